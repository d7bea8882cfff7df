/*
 * Where the API server is and how to prove who we are: from a kubeconfig
 * (--kubeconfig, then $KUBECONFIG) or, inside a pod, from the service
 * account kubelet mounts.
 */
#ifndef PW_KUBECONFIG_H
#define PW_KUBECONFIG_H

#include <stdbool.h>

#include "lib/util.h"

struct pw_k8s_config {
	char *server;		/* "https://host:port", no trailing slash */
	/* Each credential either in a file or inline (PEM text); NULL when absent. */
	char *ca_file;
	char *ca_data;
	char *cert_file;
	char *cert_data;
	char *key_file;
	char *key_data;
	char *token;		/* a static bearer token */
	char *token_file;	/* re-read at least every 60 s and after a 401 */
	bool insecure_skip_tls_verify;
};

/*
 * Reads path's current-context: its cluster (server,
 * certificate-authority[-data], insecure-skip-tls-verify) and user
 * (client-certificate[-data], client-key[-data], token, tokenFile). File
 * paths are taken relative to the kubeconfig's directory; *-data fields are
 * base64 and are decoded. Returns 0, or -errno with the reason (file, field)
 * in err.
 */
int pw_kubeconfig_load(const char *path, struct pw_k8s_config *out, struct pw_buf *err);

/*
 * In-cluster: KUBERNETES_SERVICE_HOST and _PORT, the token file and ca.crt
 * under root (normally /var/run/secrets/kubernetes.io/serviceaccount).
 */
int pw_k8s_incluster_config(const char *root, struct pw_k8s_config *out, struct pw_buf *err);

/*
 * kubectl's order: flag_path when given, else $KUBECONFIG (its first
 * existing file), else in-cluster.
 */
int pw_k8s_config_resolve(const char *flag_path, struct pw_k8s_config *out,
			  struct pw_buf *err);

void pw_k8s_config_free(struct pw_k8s_config *cfg);

#endif
