/*
 * The API server's rules for names, label keys and values, and port names
 * (k8s.io/apimachinery/pkg/util/validation). Each returns 0, or -EINVAL and
 * appends a short reason (no newline) to why when why is not NULL.
 */
#ifndef PW_VALIDATE_H
#define PW_VALIDATE_H

#include "lib/util.h"

#define PW_DNS_LABEL_MAX 63
#define PW_DNS_SUBDOMAIN_MAX 253
#define PW_LABEL_NAME_MAX 63
#define PW_LABEL_VALUE_MAX 63
#define PW_PORT_NAME_MAX 15

/* RFC 1123 label, as Namespace names: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63. */
int pw_validate_dns_label(const char *s, struct pw_buf *why);

/* RFC 1123 subdomain, as Pod and NetworkPolicy names: dot-separated labels, <= 253. */
int pw_validate_dns_subdomain(const char *s, struct pw_buf *why);

/* A label key: an optional DNS subdomain prefix and "/", then a name <= 63. */
int pw_validate_label_key(const char *s, struct pw_buf *why);

/* A label value: empty, or <= 63 alphanumerics with '-', '_', '.' inside. */
int pw_validate_label_value(const char *s, struct pw_buf *why);

/* IANA_SVC_NAME, as named ports: <= 15 of [a-z0-9-], a letter, no "--" or edge '-'. */
int pw_validate_port_name(const char *s, struct pw_buf *why);

#endif
