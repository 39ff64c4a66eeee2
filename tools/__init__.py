"""Tools the gateway runs for models and clients: the registry and argument validation
(``registry``), the definitions file (``definitions``), HTTP tools with retries and a
Redis-shared circuit breaker (``http_tools``, ``downstream``, ``circuit``), the concurrent
executor (``executor``) and the per-process set-up (``toolbox``)."""
