-- A small warehouse table, as a producer's migration would create it.
CREATE TABLE orders (
    order_id INTEGER NOT NULL PRIMARY KEY,
    customer_email VARCHAR(255) NOT NULL,
    status VARCHAR(20),
    amount NUMERIC(10, 2),
    placed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    note TEXT
);
