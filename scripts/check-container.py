#!/usr/bin/env python3
"""Runs the CPU Dockerfile's build and start commands on this machine, without a Docker engine.

Reads the Dockerfile itself, so what is checked is what the image does:
  - the build stage's feature setup (MKL on x86-64) and its `cargo build` line, with the
    features the image would pick;
  - the runtime stage's ENV, USER, ENTRYPOINT + CMD and HEALTHCHECK command.
Then starts the binary exactly so (as the image's non-root uid when run as root), waits for
/health, runs the HEALTHCHECK command, and embeds a text over loopback.

Only two things differ from the container, because there is no image filesystem here:
HF_HOME points at a copy of the test model cache (HF_HUB_OFFLINE=1, as on an air-gapped host),
and the models file path points at the repo's supported_models.txt, which the image copies.
"""
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(path):
    """(KEYWORD, argument text) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    with open(path, encoding="utf-8") as dockerfile:
        for raw in dockerfile:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            keyword, _, rest = current.strip().partition(" ")
            lines.append((keyword.upper(), rest.strip()))
            current = ""
    return lines


def main():
    steps = instructions(os.path.join(ROOT, "Dockerfile"))
    stages = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    build, runtime = steps[stages[0]:stages[-1]], steps[stages[-1]:]

    features = "mkl" if platform.machine() in ("x86_64", "AMD64") else ""
    # The build stage installs what its features need first (MKL for the x86-64 image).
    setup = next(rest for k, rest in build if k == "RUN" and "/tmp/features" in rest and "cargo build" not in rest)
    if "install-mkl.sh" in setup and features == "mkl":
        subprocess.run(["scripts/install-mkl.sh"], cwd=ROOT, check=True)
    cargo = next(rest for k, rest in build if k == "RUN" and "cargo build" in rest)
    command = re.search(r"(cargo build[^&]*)", cargo).group(1).strip()
    command = command.replace('"$(cat /tmp/features)"', shlex.quote(features))
    print(f"check-container: build: {command}", flush=True)
    subprocess.run(command, shell=True, cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "embeddings")

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for keyword, rest in runtime:
        if keyword == "ENV":
            key, _, value = rest.partition("=")
            env[key.strip()] = value.strip().strip('"')
    user = next((rest for k, rest in runtime if k == "USER"), None)
    entrypoint = json.loads(next(rest for k, rest in runtime if k == "ENTRYPOINT"))
    cmd = json.loads(next(rest for k, rest in runtime if k == "CMD"))
    health = next(rest for k, rest in runtime if k == "HEALTHCHECK")
    health_command = json.loads(health.split(" CMD ", 1)[1])
    assert entrypoint == ["/usr/local/bin/embeddings"], entrypoint

    workdir = tempfile.mkdtemp(prefix="check-container-")
    os.chmod(workdir, 0o755)
    hf_home = os.path.join(workdir, "huggingface")
    shutil.copytree(os.path.join(ROOT, "target", "test-hf-home"), hf_home, symlinks=True)
    env["HF_HOME"] = hf_home
    env["HF_HUB_OFFLINE"] = "1"
    env["EMBEDDINGS_MODELS_FILE"] = os.path.join(ROOT, "supported_models.txt")
    port = env["EMBEDDINGS_PORT"]
    print(f"check-container: env {json.dumps({k: v for k, v in env.items() if k != 'PATH'})}", flush=True)

    argv = [binary] + cmd
    if os.geteuid() == 0 and user:
        uid = int(user.split(":")[0])
        for dirpath, dirnames, filenames in os.walk(workdir):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, uid)
        os.chown(workdir, uid, uid)
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + argv
        print(f"check-container: running as uid {uid} ({user} in the image)", flush=True)
    server = subprocess.Popen(argv, env=env, cwd=workdir)
    try:
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, f"the server exited with {server.returncode}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, "/health never turned 200"
            time.sleep(0.5)
        subprocess.run(health_command, env=env, check=True, stdout=subprocess.DEVNULL)
        print("check-container: HEALTHCHECK command passes", flush=True)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/embeddings",
            data=json.dumps({"model": "all-MiniLM-L6-v2", "input": ["hello", "world"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.load(answer)
        assert len(body["data"]) == 2 and len(body["data"][0]["embedding"]) == 384, body
        print("check-container: /v1/embeddings answers with 384-dimensional vectors", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
