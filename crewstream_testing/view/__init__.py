"""See a stream: the span tree of a recording, drawn as a self-contained HTML timeline or a terminal tree."""
