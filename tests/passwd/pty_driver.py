"""Runs a command on a pseudo-terminal and answers its password prompts.

Usage: python3 pty_driver.py <answers-json> <command> [args...]
Each answer is typed (followed by a newline) after the next "password: " prompt appears;
an answer of null sends Ctrl-C instead. Prints the exit status on the first line, then the transcript read from the terminal.
"""
import json, os, pty, select, sys, termios, time

def wait_for_echo_off(fd):
    """Waits (up to 5 s) until the program has turned echo off, so that typing early cannot
    make a password show up in the transcript. On Linux the master side reports the
    terminal's settings. A program that never turns echo off is caught by the caller, who
    finds the password in the transcript."""
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            if not termios.tcgetattr(fd)[3] & termios.ECHO:
                break
        except termios.error:
            break
        time.sleep(0.01)
    time.sleep(0.02)


def main():
    answers = json.loads(sys.argv[1])
    cmd = sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    transcript = b""
    prompts_seen = 0
    deadline = time.time() + 20
    status = None
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            transcript += chunk
            while transcript.lower().count(b"password: ") > prompts_seen and prompts_seen < len(answers):
                answer = answers[prompts_seen]
                prompts_seen += 1
                wait_for_echo_off(fd)
                if answer is None:
                    os.write(fd, b"\x03")
                else:
                    os.write(fd, answer.encode() + b"\n")
        else:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                # drain what is left
                try:
                    while select.select([fd], [], [], 0.1)[0]:
                        chunk = os.read(fd, 4096)
                        if not chunk:
                            break
                        transcript += chunk
                except OSError:
                    pass
                break
    if status is None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.write("%d\n" % code)
    sys.stdout.flush()
    sys.stdout.buffer.write(transcript)

main()
