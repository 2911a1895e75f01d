#include "checksum.h"

/* Returns the Luhn check digit for `digits`, or -1 when a character is not a digit. */
int luhn_digit(const char *digits, size_t len)
{
    int sum = 0;
    int doubled = 1;
    for (size_t i = len; i > 0; i--) {
        char c = digits[i - 1];
        if (c < '0' || c > '9')
            return -1;
        int d = c - '0';
        if (doubled) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
        doubled = !doubled;
    }
    return (10 - sum % 10) % 10;
}

uint32_t fnv1a(const void *data, size_t len)
{
    const unsigned char *bytes = data;
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash ^= bytes[i];
        hash *= 16777619u;
    }
    return hash;
}
