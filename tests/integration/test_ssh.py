"""Real OpenSSH through `beacon connect` as ProxyCommand and the beacon
relay: a command, and scp of 64 MiB checksummed both ways."""

import getpass
import hashlib
import os
import shutil

import harness


def setup(env):
    sshd = "/usr/sbin/sshd"
    if not os.path.exists(sshd) or not shutil.which("ssh"):
        harness.skip("openssh server/client not installed")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        # sshd started as root wants its privilege separation directory
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    d = env.path("ssh")
    os.makedirs(d, mode=0o700)
    for name in ("host", "user"):
        env.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                 os.path.join(d, name)], check=True)
    shutil.copy(os.path.join(d, "user.pub"),
                os.path.join(d, "authorized_keys"))
    port = env.free_port()
    cfg = os.path.join(d, "sshd_config")
    with open(cfg, "w") as f:
        f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\n"
                "AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\n"
                "PasswordAuthentication no\nPidFile none\n"
                "Subsystem sftp internal-sftp\n"
                "AllowUsers %s\n" % (port, os.path.join(d, "host"),
                                     os.path.join(d, "authorized_keys"),
                                     getpass.getuser()))
    env.start([sshd, "-D", "-e", "-f", cfg], name="sshd")
    harness.wait_port("127.0.0.1", port)
    relay = env.start_relay(extra_args=["--allow", "127.0.0.0/8"],
                            allow_loopback=False)
    proxy = "%s connect --relay %s --config-dir %s %%h:%%p" % (
        env.need_bin(), relay.addr, env.pki())
    opts = ["-o", "ProxyCommand=" + proxy, "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-i", os.path.join(d, "user")]
    return port, opts, d


def test_ssh_command(env):
    port, opts, d = setup(env)
    r = env.run(["ssh"] + opts + ["-p", str(port),
                 "%s@127.0.0.1" % getpass.getuser(), "echo", "via-beacon"],
                timeout=60)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check_eq(r.stdout.strip(), b"via-beacon", r.stderr)


@harness.slow
def test_scp_64mib(env):
    port, opts, d = setup(env)
    src = os.path.join(d, "big.bin")
    data = harness.random_bytes(64 * 1024 * 1024, seed=11)
    with open(src, "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest()
    user = getpass.getuser()
    up = os.path.join(d, "up.bin")
    r = env.run(["scp", "-q"] + opts + ["-P", str(port), src,
                "%s@127.0.0.1:%s" % (user, up)], timeout=180)
    harness.check_eq(r.returncode, 0, r.stderr)
    down = os.path.join(d, "down.bin")
    r = env.run(["scp", "-q"] + opts + ["-P", str(port),
                "%s@127.0.0.1:%s" % (user, up), down], timeout=180)
    harness.check_eq(r.returncode, 0, r.stderr)
    for p in (up, down):
        with open(p, "rb") as f:
            harness.check_eq(hashlib.sha256(f.read()).hexdigest(), want, p)


if __name__ == "__main__":
    harness.main()
