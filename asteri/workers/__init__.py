"""Work that runs outside a request: periodic purges now; the webhook delivery worker and
file processing will live here too. A worker reads and writes through the same models and
rules as requests; it never imports the HTTP layers."""
