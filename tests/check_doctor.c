/*
 * podwall doctor's pure pieces, fed text: kube-proxy's rules as
 * iptables-save prints them, NetworkManager's configuration, /proc/locks;
 * the NetworkManager check on a configuration tree of the test's own; and
 * the report's two formats.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/doctor.h"
#include "lib/util.h"

/* Each line of text parsed; the lines that are no rule skipped. */
static size_t parse_rules(const char *text, struct pw_kp_rule *rules, size_t max)
{
	char *copy = pw_xstrdup(text), *line, *save = NULL;
	size_t n = 0;

	for (line = strtok_r(copy, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save))
		if (pw_kp_rule_parse(line, &rules[n]) == 0)
			n++;
	free(copy);
	return n;
}

START_TEST(test_rule_parse)
{
	struct pw_kp_rule r;
	char dst[PW_CIDR_STRLEN];

	ck_assert_int_eq(pw_kp_rule_parse("-A KUBE-SVC-NPX46M4PTMTKRN6Y ! -s 10.244.0.0/16 "
					  "-d 10.96.0.1/32 -p tcp -m comment --comment "
					  "\"default/kubernetes:https cluster IP\" -m tcp --dport 443 "
					  "-j KUBE-MARK-MASQ", &r), 0);
	ck_assert_str_eq(r.chain, "KUBE-SVC-NPX46M4PTMTKRN6Y");
	ck_assert_str_eq(r.target, "KUBE-MARK-MASQ");
	ck_assert(r.has_src && r.src_inverted && r.has_dst && r.cluster_ip);
	pw_cidr_format(&r.dst, true, dst);
	ck_assert_str_eq(dst, "10.96.0.1/32");

	ck_assert_int_eq(pw_kp_rule_parse("-A KUBE-SEP-X -s 10.244.1.5/32 -j KUBE-MARK-MASQ", &r), 0);
	ck_assert(r.has_src && !r.src_inverted && !r.has_dst && !r.cluster_ip);
	ck_assert_int_eq(pw_kp_rule_parse(":KUBE-SERVICES - [0:0]", &r), -EINVAL);
	ck_assert_int_eq(pw_kp_rule_parse("COMMIT", &r), -EINVAL);
	ck_assert_int_eq(pw_kp_rule_parse("", &r), -EINVAL);
}
END_TEST

/* kube-proxy 1.28, --cluster-cidr given: only traffic from outside the pods is masqueraded. */
static const char kp_cluster_cidr[] =
	"*nat\n"
	"-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns cluster IP\" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU\n"
	"-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns cluster IP\" -m udp --dport 53 -j KUBE-MARK-MASQ\n"
	"-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment \"kube-system/kube-dns:dns -> 10.244.0.2:53\" -j KUBE-SEP-IT2ZTR26TO4XFPTO\n"
	"-A KUBE-SEP-IT2ZTR26TO4XFPTO -s 10.244.0.2/32 -m comment --comment \"kube-system/kube-dns:dns\" -j KUBE-MARK-MASQ\n"
	"-A KUBE-EXT-ABC -m comment --comment \"masquerade traffic for ns/svc external destinations\" -j KUBE-MARK-MASQ\n"
	"COMMIT\n";

/* The same with --masquerade-all. */
static const char kp_masquerade_all[] =
	"-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns cluster IP\" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU\n"
	"-A KUBE-SVC-TCOU7JCQXEZGVUNU -d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns cluster IP\" -m udp --dport 53 -j KUBE-MARK-MASQ\n"
	"-A KUBE-SEP-IT2ZTR26TO4XFPTO -s 10.244.0.2/32 -j KUBE-MARK-MASQ\n";

/* Before 1.21 the marks sat in KUBE-SERVICES itself. */
static const char kp_old_masquerade_all[] =
	"-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443 -j KUBE-MARK-MASQ\n"
	"-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y\n";

/* Neither --masquerade-all nor --cluster-cidr: no marks for cluster IPs at all. */
static const char kp_no_marks[] =
	"-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -j KUBE-SVC-NPX46M4PTMTKRN6Y\n"
	"-A KUBE-SEP-A -s 10.244.0.2/32 -j KUBE-MARK-MASQ\n";

START_TEST(test_masquerade_all)
{
	struct pw_kp_rule rules[16];
	size_t n;

	n = parse_rules(kp_cluster_cidr, rules, 16);
	ck_assert_uint_eq(n, 5);
	ck_assert(!pw_kp_masquerades_all(rules, n));
	n = parse_rules(kp_masquerade_all, rules, 16);
	ck_assert(pw_kp_masquerades_all(rules, n));
	n = parse_rules(kp_old_masquerade_all, rules, 16);
	ck_assert(pw_kp_masquerades_all(rules, n));
	n = parse_rules(kp_no_marks, rules, 16);
	ck_assert(!pw_kp_masquerades_all(rules, n));
	ck_assert(!pw_kp_masquerades_all(rules, 0));
}
END_TEST

START_TEST(test_nm_parse)
{
	char *v;

	v = pw_nm_unmanaged_devices("[main]\nplugins=keyfile\n\n[keyfile]\n"
				    "# comment\nunmanaged-devices = interface-name:cali*;"
				    "interface-name:flannel*\n[logging]\nlevel=INFO\n");
	ck_assert_str_eq(v, "interface-name:cali*;interface-name:flannel*");
	ck_assert(pw_nm_unmanages(v, "cali0123456789a"));
	ck_assert(pw_nm_unmanages(v, "flannel.1"));
	ck_assert(!pw_nm_unmanages(v, "veth01234567"));
	ck_assert(!pw_nm_unmanages(v, "cni0"));
	free(v);
	/* The key outside [keyfile] is not the key. */
	ck_assert_ptr_eq(pw_nm_unmanaged_devices("[main]\nunmanaged-devices=interface-name:*\n"),
			 NULL);
	ck_assert_ptr_eq(pw_nm_unmanaged_devices(""), NULL);
	/* The last one wins. */
	v = pw_nm_unmanaged_devices("[keyfile]\nunmanaged-devices=mac:00:11:22:33:44:55\n"
				    "[keyfile]\nunmanaged-devices=interface-name:=cni0;"
				    "interface-name:~veth*;type:veth\n");
	ck_assert(pw_nm_unmanages(v, "cni0"));
	ck_assert(!pw_nm_unmanages(v, "cni01"));
	ck_assert(pw_nm_unmanages(v, "veth1"));
	free(v);
}
END_TEST

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_ne(f, NULL);
	fputs(text, f);
	fclose(f);
}

/* The check itself on a tree of its own: not running, running unconfigured, configured. */
START_TEST(test_nm_check)
{
	char dir[] = "/tmp/check_doctor.XXXXXX", run[64], conf[64], confd[64], file[96];
	struct pw_doctor_env env;
	struct pw_doctor_report *r;
	struct pw_buf out = PW_BUF_INIT;

	ck_assert_ptr_ne(mkdtemp(dir), NULL);
	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(conf, sizeof(conf), "%s/NetworkManager.conf", dir);
	snprintf(confd, sizeof(confd), "%s/conf.d", dir);
	memset(&env, 0, sizeof(env));
	env.nm_run_dir = run;
	env.nm_conf = conf;
	env.nm_conf_dir = confd;

	r = pw_doctor_report_new();
	pw_doctor_check_network_manager(r, &env);
	ck_assert_int_eq(pw_doctor_worst(r), PW_DOCTOR_OK);
	pw_doctor_format_text(r, &out);
	ck_assert_ptr_ne(strstr(out.data, "OK   network-manager: not running"), NULL);
	pw_doctor_report_free(r);

	ck_assert_int_eq(mkdir(run, 0700), 0);
	ck_assert_int_eq(mkdir(confd, 0700), 0);
	write_text(conf, "[main]\nplugins=keyfile\n[keyfile]\nunmanaged-devices=interface-name:cali*\n");
	r = pw_doctor_report_new();
	pw_doctor_check_network_manager(r, &env);
	ck_assert_int_eq(pw_doctor_worst(r), PW_DOCTOR_WARN);
	pw_buf_reset(&out);
	pw_doctor_format_text(r, &out);
	ck_assert_str_eq(out.data, "WARN network-manager: running, and would manage interfaces like "
			 "veth01234567, cni0, flannel.1 (unmanaged-devices=interface-name:cali*); "
			 "fix: add to /etc/NetworkManager/conf.d/podwall-cni.conf: [keyfile]\\n"
			 "unmanaged-devices=interface-name:cali*;interface-name:veth*;"
			 "interface-name:cni0;interface-name:flannel* and run: systemctl reload "
			 "NetworkManager\n");
	pw_doctor_report_free(r);

	/* conf.d's file wins over NetworkManager.conf. */
	snprintf(file, sizeof(file), "%s/podwall-cni.conf", confd);
	write_text(file, "[keyfile]\nunmanaged-devices=interface-name:cali*;interface-name:veth*;"
		   "interface-name:cni0;interface-name:flannel*\n");
	r = pw_doctor_report_new();
	pw_doctor_check_network_manager(r, &env);
	ck_assert_int_eq(pw_doctor_worst(r), PW_DOCTOR_OK);
	pw_doctor_report_free(r);

	unlink(file);
	unlink(conf);
	rmdir(confd);
	rmdir(run);
	rmdir(dir);
	pw_buf_free(&out);
}
END_TEST

START_TEST(test_proc_locks)
{
	static const char locks[] =
		"1: POSIX  ADVISORY  WRITE 700 00:19:4242 0 EOF\n"
		"2: FLOCK  ADVISORY  WRITE 1234 00:19:131 0 EOF\n"
		"2: -> FLOCK  ADVISORY  WRITE 5678 00:19:131 0 EOF\n"
		"3: OFDLCK ADVISORY  READ  -1 fd:01:131 0 EOF\n";

	ck_assert_int_eq(pw_proc_locks_holder(locks, 0, 0x19, 131), 1234);
	ck_assert_int_eq(pw_proc_locks_holder(locks, 0, 0x19, 4242), 0);	/* POSIX */
	ck_assert_int_eq(pw_proc_locks_holder(locks, 0xfd, 1, 131), 0);
	ck_assert_int_eq(pw_proc_locks_holder(locks, 0, 0x19, 999), 0);
	ck_assert_int_eq(pw_proc_locks_holder("", 0, 0x19, 131), 0);
}
END_TEST

START_TEST(test_cover)
{
	struct pw_cidr a, b, c;
	char text[PW_CIDR_STRLEN];

	ck_assert_int_eq(pw_ip_parse("10.96.0.1", &a), 0);
	ck_assert_int_eq(pw_ip_parse("10.96.0.10", &b), 0);
	pw_cidr_cover(&a, &b, &c);
	pw_cidr_format(&c, true, text);
	ck_assert_str_eq(text, "10.96.0.0/28");
	pw_cidr_cover(&a, &a, &c);
	pw_cidr_format(&c, true, text);
	ck_assert_str_eq(text, "10.96.0.1/32");
	ck_assert_int_eq(pw_cidr_parse("10.96.0.0/12", &b), 0);
	ck_assert_int_eq(pw_ip_parse("10.111.255.254", &a), 0);
	pw_cidr_cover(&b, &a, &c);
	pw_cidr_format(&c, true, text);
	ck_assert_str_eq(text, "10.96.0.0/12");
	ck_assert_int_eq(pw_ip_parse("128.0.0.1", &a), 0);
	ck_assert_int_eq(pw_ip_parse("10.0.0.1", &b), 0);
	pw_cidr_cover(&a, &b, &c);
	pw_cidr_format(&c, true, text);
	ck_assert_str_eq(text, "0.0.0.0/0");
}
END_TEST

static void gather(const struct pw_cidr *ip, void *ctx)
{
	char text[PW_CIDR_STRLEN];

	pw_cidr_format(ip, false, text);
	pw_buf_printf(ctx, "%s ", text);
}

START_TEST(test_service_ips)
{
	struct pw_buf out = PW_BUF_INIT;

	ck_assert_uint_eq(pw_service_list_cluster_ips(
		"{\"kind\":\"ServiceList\",\"items\":[{\"spec\":{\"clusterIP\":\"10.96.0.1\","
		"\"clusterIPs\":[\"10.96.0.1\",\"fd00:96::1\"]}},{\"spec\":{\"clusterIP\":\"None\","
		"\"clusterIPs\":[\"None\"]}},{\"spec\":{\"clusterIP\":\"10.96.0.10\","
		"\"clusterIPs\":[\"10.96.0.10\"]}}]}", gather, &out), 3);
	ck_assert_str_eq(out.data, "10.96.0.1 fd00:96::1 10.96.0.10 ");
	pw_buf_reset(&out);
	/* Before 1.20: clusterIP alone. */
	ck_assert_uint_eq(pw_service_list_cluster_ips(
		"{\"items\":[{\"spec\":{\"clusterIP\": \"10.0.0.1\"}}]}", gather, &out), 1);
	ck_assert_str_eq(out.data, "10.0.0.1 ");
	ck_assert_uint_eq(pw_service_list_cluster_ips("{\"items\":[]}", gather, &out), 0);
	pw_buf_free(&out);
}
END_TEST

START_TEST(test_rp_filter)
{
	ck_assert_int_eq(pw_rp_filter_effective(0, 1), 1);
	ck_assert_int_eq(pw_rp_filter_effective(1, 0), 1);
	ck_assert_int_eq(pw_rp_filter_effective(2, 1), 2);
	ck_assert_int_eq(pw_rp_filter_effective(0, 0), 0);
}
END_TEST

START_TEST(test_report_formats)
{
	struct pw_doctor_report *r = pw_doctor_report_new();
	struct pw_buf out = PW_BUF_INIT;

	pw_doctor_add(r, PW_DOCTOR_OK, "ip-forward", "never shown", "net.ipv4.ip_forward = %d", 1);
	ck_assert_int_eq(pw_doctor_worst(r), PW_DOCTOR_OK);
	pw_doctor_add(r, PW_DOCTOR_FAIL, "api", "give \"--kubeconfig\"", "no\tconfiguration");
	pw_doctor_add(r, PW_DOCTOR_WARN, "rp-filter", "loosen it", "strict");
	ck_assert_int_eq(pw_doctor_worst(r), PW_DOCTOR_FAIL);
	pw_doctor_format_text(r, &out);
	ck_assert_str_eq(out.data, "OK   ip-forward: net.ipv4.ip_forward = 1\n"
			 "FAIL api: no\tconfiguration; fix: give \"--kubeconfig\"\n"
			 "WARN rp-filter: strict; fix: loosen it\n");
	pw_buf_reset(&out);
	pw_doctor_format_json(r, &out);
	ck_assert_str_eq(out.data, "{\"checks\":[\n"
			 " {\"check\":\"ip-forward\",\"status\":\"OK\",\"saw\":\"net.ipv4.ip_forward = 1\"},\n"
			 " {\"check\":\"api\",\"status\":\"FAIL\",\"saw\":\"no\\u0009configuration\","
			 "\"fix\":\"give \\\"--kubeconfig\\\"\"},\n"
			 " {\"check\":\"rp-filter\",\"status\":\"WARN\",\"saw\":\"strict\",\"fix\":\"loosen it\"}],\n"
			 " \"status\":\"FAIL\"}\n");
	pw_buf_free(&out);
	pw_doctor_report_free(r);
}
END_TEST

static Suite *doctor_suite(void)
{
	Suite *s = suite_create("doctor");
	TCase *tc = tcase_create("parsers");

	tcase_add_test(tc, test_rule_parse);
	tcase_add_test(tc, test_masquerade_all);
	tcase_add_test(tc, test_nm_parse);
	tcase_add_test(tc, test_nm_check);
	tcase_add_test(tc, test_proc_locks);
	tcase_add_test(tc, test_cover);
	tcase_add_test(tc, test_service_ips);
	tcase_add_test(tc, test_rp_filter);
	tcase_add_test(tc, test_report_formats);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(doctor_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
