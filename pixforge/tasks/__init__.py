"""Training recipes: one :class:`pixforge.train.Task` per recipe, each filled by a typed config."""
