"""The web app: server-rendered pages for people, mounted at `/` by the API's `create_app`.

A door like `api/` and `cli/`: each page parses its request, checks who is asking, calls one
service and renders the answer. Nothing here reaches the store, the lake or the engines.
"""
