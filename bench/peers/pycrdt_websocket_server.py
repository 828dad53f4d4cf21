"""pycrdt-websocket's reference set-up: `WebsocketServer` behind its `ASGIServer`, on Hypercorn
(asyncio), rooms named by the URL path. Run by bench/servers.py in its own venv."""

import asyncio
import logging
import os
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config
from pycrdt.websocket import ASGIServer, WebsocketServer


async def main() -> None:
    config = Config()
    config.bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '1234')}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    log = logging.getLogger("pycrdt-websocket")
    logging.basicConfig(level=logging.WARNING)

    def report(exception: Exception, _log: logging.Logger) -> bool:
        # Log what the library would otherwise only raise into the ASGI server; behaviour unchanged.
        log.error("pycrdt-websocket: %s: %s", type(exception).__name__, exception)
        return False

    websocket_server = WebsocketServer(auto_clean_rooms=True, exception_handler=report)
    async with websocket_server:
        print("pycrdt-websocket ready", flush=True)
        await serve(ASGIServer(websocket_server), config, shutdown_trigger=stop.wait)


if __name__ == "__main__":
    asyncio.run(main())
