/**
 * The simulated marketplace lives in src/sandbox/marketplace (the product runs it for
 * `market-ingest sandbox`); tests keep importing it from here.
 */
export * from '../../../src/sandbox/marketplace/index.js';
