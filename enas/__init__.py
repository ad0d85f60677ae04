"""ENAS (Pham et al., ICML 2018): shared-weight supergraphs and their search spaces."""
