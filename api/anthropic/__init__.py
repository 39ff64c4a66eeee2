"""Anthropic's Messages API at the edge: its requests translated into the gateway's chat
request, finished jobs and job streams translated back, errors in its shape."""
