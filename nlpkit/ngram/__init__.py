"""N-gram language models: counting, Good-Turing/Katz, ARPA read/write, scoring."""
