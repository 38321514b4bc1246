"""The booking saga's rules, free of I/O: nothing here imports a database, Kafka or HTTP."""
