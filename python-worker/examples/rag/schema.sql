-- The product's own database, with its search index beside it (docs/patterns.md, "RAG beside
-- the product database"). PostgreSQL 13+ with pgvector 0.8+ (iterative index scans).
--
-- products        the product's table, as the product's code writes it. Every change to the
--                 text bumps `version` (a trigger), and writes a row to product_outbox in the
--                 same transaction (another trigger): no change can be missed, none sent twice.
-- product_outbox  what changed and still has to be embedded; outbox_relay.py submits each row as
--                 an `embed` job through the gateway and marks it delivered.
-- product_chunks  the index: a product's text in chunks, each with its embedding and the
--                 product version it was made from. Only the `embed` job writes it, and only
--                 while that version is still the product's current one.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      text NOT NULL CHECK (tenant ~ '^[a-z][a-z0-9-]{0,62}$'),
    sku         text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, sku)
);

CREATE TABLE product_outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The relay's Idempotency-Key: unique beyond this database, the same on every retry.
    delivery_key   uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    product_id     bigint NOT NULL,
    tenant         text NOT NULL,
    source_version integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at   timestamptz,
    job_id         text,
    failed_at      timestamptz,
    last_error     text
);

-- What the relay reads: rows still to deliver, oldest first.
CREATE INDEX product_outbox_pending ON product_outbox (id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- 256 dimensions: the size of both embedders (examples/rag/embedder.py).
CREATE TABLE product_chunks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id     bigint NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    tenant         text NOT NULL,
    source_version integer NOT NULL,
    ordinal        integer NOT NULL,
    content        text NOT NULL,
    embedder       text NOT NULL,
    embedding      vector(256) NOT NULL,
    UNIQUE (product_id, ordinal)
);

-- One HNSW index for every tenant: queries filter by tenant and let pgvector's iterative scan
-- go on until enough of that tenant's rows are found (hnsw.iterative_scan, set per query).
CREATE INDEX product_chunks_embedding ON product_chunks USING hnsw (embedding vector_cosine_ops);

-- A product's version moves on with every change to its text; nothing else may set it.
CREATE FUNCTION products_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
    ELSE
        IF NEW.tenant IS DISTINCT FROM OLD.tenant THEN
            RAISE EXCEPTION 'product % cannot move from tenant % to another', OLD.id, OLD.tenant;
        END IF;
        IF (NEW.name, NEW.description) IS DISTINCT FROM (OLD.name, OLD.description) THEN
            NEW.version := OLD.version + 1;
            NEW.updated_at := now();
        ELSE
            NEW.version := OLD.version;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER products_versioned BEFORE INSERT OR UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION products_versioned();

-- The outbox row is written by the transaction that changed the product: both commit or
-- neither does. NOTIFY wakes the relay at commit; it also polls, so a missed wake-up only
-- delays a row. A deleted product's chunks go with it (ON DELETE CASCADE), in its transaction.
CREATE FUNCTION products_to_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product_outbox (product_id, tenant, source_version)
        VALUES (NEW.id, NEW.tenant, NEW.version);
    PERFORM pg_notify('product_outbox', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER products_inserted AFTER INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION products_to_outbox();

CREATE TRIGGER products_changed AFTER UPDATE ON products
    FOR EACH ROW WHEN (NEW.version <> OLD.version) EXECUTE FUNCTION products_to_outbox();
