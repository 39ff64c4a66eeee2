"""Model turns and tool loops shared by the job kinds: one turn under the instance's
capacity (``model_calls``), where a failed turn goes next (``fallbacks``), the tool loop's
limits and checkpoint (``state``) and the runner that drives turns and tool rounds."""
