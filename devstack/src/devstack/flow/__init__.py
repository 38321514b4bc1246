"""The live event-flow page `careplan up` serves (http://127.0.0.1:8070 plus the offset)."""
