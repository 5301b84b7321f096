"""A real SMTP server for the tests: accepts every message and writes it, as JSON, into a
directory (one file per message). Usage: smtp_sink.py PORT DIR. Prints "ready" once
listening. Installed by scripts/test.sh (pip package aiosmtpd)."""

import email
import email.policy
import json
import os
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        # Continue after the messages of an earlier run (a restarted sink keeps its directory
        # and must not overwrite them).
        self.count = max(
            (int(n[:-5]) for n in os.listdir(directory) if n.endswith(".json") and n[:-5].isdigit()),
            default=0,
        )
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "body": body,
        }
        with self.lock:
            self.count += 1
            name = "%06d" % self.count
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, name + ".json"))
        return "250 OK"


def main():
    port = int(sys.argv[1])
    directory = sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        # Exit when the parent closes our stdin (or kills us).
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
