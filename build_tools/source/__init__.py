"""The sources a build compiles: the Ollama checkout (``checkout``), what its files say
(``ollama_tree``), the llama.cpp tree it pins (``llama_cpp``), git through the runner (``git``)
and the record of our own patches in a checkout (``stamp``)."""
