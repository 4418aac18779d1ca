"""``make demo``: two agents coordinate through a local bucket, for real.

Two mounts of one project on the embedded local backend, as agents ``planner``
and ``developer``: a claim race, a message, shared memory, a blocking wait on a
step, and a live transcript tailed from the other agent's mount.  Every step
is an ordinary shell command printed before it runs.  Everything is torn down
at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tcfs import harnesses
from tcfs.spawn import tcfs_command

BOLD = "\033[1m" if sys.stdout.isatty() else ""
DIM = "\033[2m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def sh(
    cmd: str, *, check: bool = True, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    print(f"{DIM}${RESET} {cmd}", flush=True)
    res = subprocess.run(
        ["bash", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    out = (res.stdout + res.stderr).rstrip()
    if out:
        print("\n".join("  " + line for line in out.splitlines()), flush=True)
    if check and res.returncode != 0:
        raise SystemExit(f"demo step failed (exit {res.returncode}): {cmd}")
    return res


def shell_command() -> str:
    """How the printed steps run tcfs: the installed script beside this
    interpreter, else this interpreter kept from importing a ``tcfs/``
    folder in the working directory."""
    script = Path(sys.executable).parent / "tcfs"
    return shlex.quote(str(script)) if script.exists() else shlex.join(tcfs_command())


def main() -> int:
    if not os.path.exists("/dev/fuse"):
        print("tcfs demo: /dev/fuse is missing; FUSE is needed to mount", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="tcfs-demo-"))
    tcfs = shell_command()
    bucket = work / "bucket"
    mnt = {a: work / "mnt" / a for a in ("planner", "developer")}
    claude_home = work / "claude"
    env = {
        **os.environ,
        "TCFS_HOME": str(work / "home"),
        "TCFS_CONFIG": str(work / "home" / "config.json"),
        "CLAUDE_CONFIG_DIR": str(claude_home),
    }
    os.environ.update(env)
    mirror: subprocess.Popen[bytes] | None = None
    tail: subprocess.Popen[str] | None = None
    try:
        say("Two agents mount one project of a local bucket")
        for agent, path in mnt.items():
            path.mkdir(parents=True)
            sh(
                f"{tcfs} mount {path} --backend local --bucket {bucket} "
                f"--project demo --agent {agent} --lease-ttl 30 --wait-timeout 60"
            )
        p, d = mnt["planner"], mnt["developer"]
        sh(f"{tcfs} status")
        sh(f"head -n 12 {p}/README")

        say("Both race for step 'api': one conditional PUT wins, the loser's echo fails")
        racers = [
            subprocess.Popen(
                ["bash", "-c", f"echo me > {m}/steps/api/claim"],
                stderr=subprocess.PIPE,
                text=True,
            )
            for m in (p, d)
        ]
        for agent, proc in zip(mnt, racers, strict=True):
            err = proc.communicate(timeout=30)[1].strip()
            verdict = "won" if proc.returncode == 0 else f"lost ({err.split(': ')[-1]})"
            print(f"  {agent}: {verdict}")
        sh(f"cat {d}/steps/api/claim")
        winner = next(a for a, r in zip(mnt, racers, strict=True) if r.returncode == 0)
        other = "developer" if winner == "planner" else "planner"
        w, o = mnt[winner], mnt[other]

        say(f"{other} waits for the step in the background: cat steps/api/wait")
        waiter = subprocess.Popen(
            ["bash", "-c", f"cat {o}/steps/api/wait"], stdout=subprocess.PIPE, text=True
        )

        say("Messages and shared memory")
        sh(f"echo 'Design is ready' > {w}/outbox/{other}")
        sh(f"cat {o}/inbox/next")
        sh(f"echo complete > {w}/memory/design/status")
        sh(f"ls {o}/memory/design && cat {o}/memory/design/status")

        claude = harnesses.get("claude-code")  # the demo writes a session in its format
        say(f"A live transcript: the mirror copies a {claude.title} session into sessions/")
        session_id = str(uuid.uuid4())
        cwd = Path.cwd().resolve()
        enc = "".join(c if c.isalnum() else "-" for c in str(cwd))
        src = claude_home / "projects" / enc / f"{session_id}.jsonl"
        src.parent.mkdir(parents=True)

        def line(n: int) -> str:
            return json.dumps(
                {
                    "type": "user",
                    "sessionId": session_id,
                    "cwd": str(cwd),
                    "message": {"role": "user", "content": f"step {n}"},
                }
            )

        src.write_text(line(1) + "\n")
        mirror = subprocess.Popen(
            tcfs_command(
                "mirror",
                "--follow",
                "--harness",
                claude.name,
                "--interval",
                "0.5",
                "--backend",
                "local",
                "--bucket",
                str(bucket),
                "--project",
                "demo",
                "--agent",
                winner,
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        target = o / "sessions" / claude.name / f"{session_id}.jsonl"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        print(
            f"{DIM}${RESET} tail -f {target}   (on {other}'s mount, while {winner}'s agent writes)"
        )
        tail = subprocess.Popen(
            ["tail", "-n", "+1", "-f", str(target)], stdout=subprocess.PIPE, text=True
        )
        for n in range(2, 5):
            time.sleep(0.7)
            with src.open("a") as f:
                f.write(line(n) + "\n")
        seen: list[str] = []
        os.set_blocking(tail.stdout.fileno(), False)  # type: ignore[union-attr]
        deadline = time.monotonic() + 15
        while len(seen) < 4 and time.monotonic() < deadline:
            chunk = tail.stdout.readline()  # type: ignore[union-attr]
            if chunk:
                seen.append(chunk.rstrip())
                print("  " + chunk.rstrip())
            else:
                time.sleep(0.1)
        print(f"  ({len(seen)} of 4 transcript lines seen live)")

        say(f"{winner} hands the step off; {other}'s wait returns")
        sh(f"echo 'API done, see artifacts/shared/api.md' > {w}/steps/api/handoff")
        out = waiter.communicate(timeout=30)[0].strip()
        print(f"  cat steps/api/wait -> {out!r} (exit {waiter.returncode})")
        sh(f"cat {o}/steps/api/status; cat {o}/steps/api/handoff")
        print(f"\n{BOLD}Demo complete.{RESET}")
        return 0
    finally:
        children: list[subprocess.Popen[str] | subprocess.Popen[bytes] | None] = [tail, mirror]
        for child in children:
            if child is not None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        for path in mnt.values():
            if path.exists():
                subprocess.run(
                    tcfs_command("umount", str(path)),
                    capture_output=True,
                    timeout=30,
                    stdin=subprocess.DEVNULL,
                )
                subprocess.run(
                    ["fusermount3", "-u", "-z", str(path)], capture_output=True, timeout=10
                )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
