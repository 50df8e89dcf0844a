#!/usr/bin/env python3
"""Drives a program through a pseudo-terminal, as a person at a keyboard would.

    python3 tests/pty/drive.py STEPS.json -- PROGRAM ARGS...

STEPS is a JSON list of {"send": TEXT} (keys, e.g. "\\t" or "\\u0003" for Ctrl-C),
{"expect": REGEX, "timeout": SECONDS} (wait until the screen output since the last expect
matches) and {"sleep": SECONDS}. The terminal is 120 x 30. Prints everything the program
wrote; exits 1 (naming the step) when an expect times out, else with the program's status.
"""
import fcntl
import json
import os
import re
import select
import struct
import sys
import termios
import time


def main():
    steps_path, dash, *command = sys.argv[1:]
    assert dash == "--" and command, __doc__
    steps = json.load(open(steps_path))
    pid, fd = os.forkpty()
    if pid == 0:
        os.execvp(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    transcript = b""
    unread = b""

    def read(timeout):
        nonlocal transcript, unread
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        transcript += data
        unread += data
        return True

    for number, step in enumerate(steps):
        if "send" in step:
            os.write(fd, step["send"].encode())
        elif "sleep" in step:
            end = time.time() + step["sleep"]
            while time.time() < end and read(0.05):
                pass
        elif "expect" in step:
            pattern = re.compile(step["expect"].encode(), re.S)
            end = time.time() + step.get("timeout", 20)
            while not pattern.search(unread):
                if time.time() > end or not read(0.1):
                    sys.stdout.write(transcript.decode(errors="replace"))
                    print(f"\n!!! step {number}: no {step['expect']!r} within the time", file=sys.stderr)
                    os.kill(pid, 9)
                    sys.exit(1)
            unread = b""
    end = time.time() + 20
    while time.time() < end and read(0.1):
        pass
    finished, status = os.waitpid(pid, os.WNOHANG)
    while not finished and time.time() < end:
        time.sleep(0.05)
        finished, status = os.waitpid(pid, os.WNOHANG)
    if not finished:
        sys.stdout.write(transcript.decode(errors="replace"))
        print("\n!!! the program did not exit within 20 s of the last step", file=sys.stderr)
        os.kill(pid, 9)
        sys.exit(1)
    sys.stdout.write(transcript.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
