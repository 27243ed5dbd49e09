"""The live view: today's calls, leads and target calls by source, in a browser."""
