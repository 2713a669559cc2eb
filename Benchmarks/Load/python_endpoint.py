"""The reference peers of the load benchmark: the greeter twins (the same
functions as our greeters, written with the official StateFun Python SDK)
served on aiohttp, as the SDK's documentation serves them.

usage: python_endpoint.py v2|v3 PORT
"""
import os
import sys

from aiohttp import web

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

version, port = sys.argv[1], int(sys.argv[2])
if version == "v2":
    sys.path.insert(0, os.path.join(ROOT, "Examples/Greeter/Python"))
    from statefun import AsyncRequestReplyHandler
    from twins import functions

    handler = AsyncRequestReplyHandler(functions)

    async def serve(request):
        reply = await handler(await request.read())
        return web.Response(body=reply, content_type="application/octet-stream")
else:
    sys.path.insert(0, os.path.join(ROOT, "Examples/GreeterV3/Python"))
    from statefun import RequestReplyHandler
    from greeter_v3_twins import functions

    handler = RequestReplyHandler(functions)

    async def serve(request):
        reply = await handler.handle_async(await request.read())
        return web.Response(body=reply, content_type="application/octet-stream")

app = web.Application(client_max_size=64 * 1024 * 1024)
app.add_routes([web.post("/statefun", serve)])
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
