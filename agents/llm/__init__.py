"""Model backends: OpenAI-compatible servers (SGLang, llama.cpp) and the embedded llama.cpp."""
