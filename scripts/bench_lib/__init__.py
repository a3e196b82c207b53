"""scripts/bench's figures, by concern; scripts/bench's docstring describes each one."""
