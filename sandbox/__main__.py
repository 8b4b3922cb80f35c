"""Run an emulator on its own: ``python -m sandbox telegram [--port 8081] [--token T]``."""

from __future__ import annotations

import argparse

import uvicorn

from sandbox.telegram import TelegramEmulator


def main() -> None:
    """Serve the chosen emulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox")
    parser.add_argument("emulator", choices=["telegram"])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=TelegramEmulator.token)
    args = parser.parse_args()
    emulator = TelegramEmulator(token=args.token)
    print(f"Telegram emulator on http://127.0.0.1:{args.port} (token {args.token})")
    uvicorn.run(emulator.app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
