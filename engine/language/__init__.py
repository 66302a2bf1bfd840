"""The authoring half: load Play files (positions kept), schema, model, graph, vocabulary,
templates, checks and pictures. Pure: no I/O but reading the files it is given."""
