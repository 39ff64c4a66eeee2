"""Tool registry, argument validation and execution. Built-in tools land with the tools issue."""
