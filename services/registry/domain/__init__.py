"""Registry domain: registrar, training courses, supporters and roster provisions.
Plain Python; events come from libs/domain/registry."""
