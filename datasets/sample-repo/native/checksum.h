#ifndef INVENTORY_CHECKSUM_H
#define INVENTORY_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Check digit for SKU barcodes (Luhn mod 10 over ASCII digits). */
int luhn_digit(const char *digits, size_t len);

uint32_t fnv1a(const void *data, size_t len);

#endif
