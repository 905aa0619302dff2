// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Login state machine: one handler per stage, CHAP steps inside the
 * security stage, operational keys delegated to struct negotiation.
 */
#include <stdarg.h>
#include <string.h>

#include "initiator/chap.h"
#include "initiator/keys.h"
#include "initiator/login.h"
#include "initiator/negotiate.h"
#include "initiator/pdu.h"

G_DEFINE_QUARK(isa - login - error - quark, login_error)

/* Bound on the text of one (continued) Login Response. */
#define LOGIN_TEXT_LIMIT 65536
/* Bound on request/response round trips: a target cannot keep us forever. */
#define LOGIN_MAX_EXCHANGES 32
/* Length of our mutual-CHAP challenge, at least the digest length. */
#define CHAP_OUR_CHALLENGE_MIN 16

/**
 * struct login - one connection's login in progress.
 * @cfg: configuration, strings and secrets owned
 * @state: stage we are in
 * @sec: step within the security stage
 * @neg: operational negotiation
 * @use_chap: CHAP credentials are configured
 * @mutual: we authenticate the target too (CHAP then mandatory)
 * @alg: the CHAP algorithm the target chose
 * @our_id: CHAP_I we sent for mutual CHAP
 * @our_chal: CHAP_C we sent for mutual CHAP, registered while in use
 * @out: text of the current logical request
 * @out_off: how much of @out went out already
 * @req_transit: T bit of the current logical request
 * @req_csg: CSG of the current logical request
 * @req_nsg: NSG of the current logical request
 * @sent_cont: the last PDU we sent had the C bit
 * @sent_transit: the last PDU we sent had the T bit
 * @ack_continue: the target continues its response; next request is empty
 * @waiting: a request was built and its response is due
 * @acc: text of a response split with the C bit
 * @error: reason of a failure detected outside login_handle_response()
 */
struct login {
	struct login_config cfg;
	enum login_state state;
	enum login_security_step sec;
	struct negotiation neg;
	bool use_chap;
	bool mutual;
	enum chap_alg alg;
	uint8_t our_id;
	GBytes *our_chal;

	GByteArray *out;
	size_t out_off;
	bool req_transit;
	uint8_t req_csg;
	uint8_t req_nsg;
	bool sent_cont;
	bool sent_transit;
	bool ack_continue;
	bool waiting;
	unsigned int exchanges;

	struct text_accum acc;
	bool have_statsn;
	uint32_t exp_statsn;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint16_t tsih;
	uint16_t status;
	char *redirect_host;
	uint16_t redirect_port;

	GError *error;
};

/*
 * Challenges our live logins sent for mutual CHAP. A target that sends one
 * of them back as its own challenge, on this or a parallel connection, wants
 * us to compute the answer it owes us: the reflection attack of RFC 7143
 * section 12.1.3.
 */
static GMutex sent_challenges_lock;
static GPtrArray *sent_challenges;

static void challenge_register(GBytes *chal)
{
	g_mutex_lock(&sent_challenges_lock);
	if (!sent_challenges)
		sent_challenges = g_ptr_array_new();
	g_ptr_array_add(sent_challenges, chal);
	g_mutex_unlock(&sent_challenges_lock);
}

static void challenge_unregister(GBytes *chal)
{
	g_mutex_lock(&sent_challenges_lock);
	if (sent_challenges)
		g_ptr_array_remove_fast(sent_challenges, chal);
	g_mutex_unlock(&sent_challenges_lock);
}

static bool challenge_is_ours(const uint8_t *data, size_t len)
{
	bool found = false;
	guint i;

	g_mutex_lock(&sent_challenges_lock);
	for (i = 0; sent_challenges && i < sent_challenges->len; i++) {
		gsize clen;
		const uint8_t *c = g_bytes_get_data(g_ptr_array_index(sent_challenges, i), &clen);

		if (clen == len && memcmp(c, data, len) == 0)
			found = true;
	}
	g_mutex_unlock(&sent_challenges_lock);
	return found;
}

static void forget_our_challenge(struct login *l)
{
	if (!l->our_chal)
		return;
	challenge_unregister(l->our_chal);
	g_clear_pointer(&l->our_chal, g_bytes_unref);
}

static const char *target_label(const struct login *l)
{
	return l->cfg.target_name ? l->cfg.target_name : "the discovery service";
}

static void fail(struct login *l, GError **err, int code, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void fail(struct login *l, GError **err, int code, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	l->state = LOGIN_FAILED;
	forget_our_challenge(l);
	g_set_error_literal(err, LOGIN_ERROR, code, msg);
}

/* Turn a lower layer's error into a login failure with the same message. */
static void fail_from(struct login *l, GError **err, int code, GError *cause)
{
	fail(l, err, code, "%s", cause->message);
	g_error_free(cause);
}

static bool check_config(const struct login_config *c, GError **err)
{
	if (!c->initiator_name || !c->initiator_name[0]) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG, "no initiator name configured");
		return false;
	}
	if (!c->discovery && (!c->target_name || !c->target_name[0])) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG,
			    "no target name given for a normal session");
		return false;
	}
	if (c->chap_user && (!c->chap_secret || c->chap_secret_len == 0)) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG, "CHAP user %s has no secret",
			    c->chap_user);
		return false;
	}
	if (c->mutual_user && !c->chap_user) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG,
			    "mutual CHAP needs one-way CHAP credentials as well");
		return false;
	}
	if (c->mutual_user && (!c->mutual_secret || c->mutual_secret_len == 0)) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG,
			    "mutual CHAP user %s has no secret", c->mutual_user);
		return false;
	}
	/* RFC 7143 12.1.3: one secret for both directions invites reflection. */
	if (c->mutual_user && c->mutual_secret_len == c->chap_secret_len &&
	    memcmp(c->mutual_secret, c->chap_secret, c->chap_secret_len) == 0) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG,
			    "the mutual CHAP secret must differ from the initiator's CHAP secret");
		return false;
	}
	return true;
}

/* Start a new logical request; login_next_request() cuts it into PDUs. */
static void begin_request(struct login *l, uint8_t csg, uint8_t nsg, bool transit)
{
	g_byte_array_set_size(l->out, 0);
	l->out_off = 0;
	l->req_csg = csg;
	l->req_nsg = nsg;
	l->req_transit = transit;
}

static void build_first_request(struct login *l)
{
	const struct login_config *c = &l->cfg;
	const char *method = "None";

	if (l->mutual)
		method = "CHAP";
	else if (l->use_chap)
		method = "CHAP,None";

	/* Without CHAP we may leave the security stage at once. */
	begin_request(l, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, !l->use_chap);
	text_append(l->out, "InitiatorName", c->initiator_name);
	if (c->initiator_alias && c->initiator_alias[0])
		text_append(l->out, "InitiatorAlias", c->initiator_alias);
	text_append(l->out, "SessionType", c->discovery ? "Discovery" : "Normal");
	if (!c->discovery)
		text_append(l->out, "TargetName", c->target_name);
	text_append(l->out, "AuthMethod", method);
	l->sec = SECURITY_AUTH_METHOD;
}

/**
 * login_new() - prepare a login.
 * @cfg: the configuration (copied)
 *
 * A configuration that cannot work yields a login in LOGIN_FAILED whose
 * login_next_request() reports why.
 *
 * Return: the new login.
 */
struct login *login_new(const struct login_config *cfg)
{
	struct login *l = g_new0(struct login, 1);
	struct login_config *c = &l->cfg;

	*c = *cfg;
	c->initiator_name = g_strdup(cfg->initiator_name);
	c->initiator_alias = g_strdup(cfg->initiator_alias);
	c->target_name = g_strdup(cfg->target_name);
	c->chap_user = g_strdup(cfg->chap_user);
	c->mutual_user = g_strdup(cfg->mutual_user);
	c->chap_secret = g_memdup2(cfg->chap_secret, cfg->chap_secret_len);
	c->mutual_secret = g_memdup2(cfg->mutual_secret, cfg->mutual_secret_len);

	l->out = g_byte_array_new();
	text_accum_init(&l->acc, LOGIN_TEXT_LIMIT);
	negotiation_init(&l->neg, &cfg->proposal, cfg->discovery, cfg->iser);
	l->state = LOGIN_SECURITY_NEGOTIATION;
	l->use_chap = cfg->chap_user != NULL;
	l->mutual = cfg->mutual_user != NULL;
	l->tsih = cfg->tsih;

	if (!check_config(c, &l->error)) {
		l->state = LOGIN_FAILED;
		return l;
	}
	build_first_request(l);
	return l;
}

static void free_secret(const uint8_t *s, size_t len)
{
	if (s)
		memset((void *)s, 0, len);
	g_free((void *)s);
}

void login_free(struct login *l)
{
	if (!l)
		return;
	forget_our_challenge(l);
	g_free((char *)l->cfg.initiator_name);
	g_free((char *)l->cfg.initiator_alias);
	g_free((char *)l->cfg.target_name);
	g_free((char *)l->cfg.chap_user);
	g_free((char *)l->cfg.mutual_user);
	free_secret(l->cfg.chap_secret, l->cfg.chap_secret_len);
	free_secret(l->cfg.mutual_secret, l->cfg.mutual_secret_len);
	g_byte_array_unref(l->out);
	text_accum_free(&l->acc);
	g_free(l->redirect_host);
	g_clear_error(&l->error);
	g_free(l);
}

static void fill_bhs(const struct login *l, uint8_t bhs[ISCSI_BHS_LEN], uint8_t csg, uint8_t nsg,
		     bool transit, bool cont, uint32_t dlen)
{
	pdu_build_login_req(bhs, l->cfg.isid, l->cfg.tsih, l->cfg.itt, l->cfg.cid, l->cfg.cmdsn,
			    l->have_statsn ? l->exp_statsn : l->cfg.exp_statsn, csg, nsg, transit,
			    cont, dlen);
}

/**
 * login_next_request() - the next Login Request to send.
 * @l: the login
 * @bhs: receives the BHS
 * @data: receives the text (emptied first)
 * @err: set when no request is due
 *
 * A request text longer than LOGIN_MAX_PDU_DATA goes out in pieces with
 * the C bit; the target acknowledges each with an empty response.
 *
 * Return: 0, or -1 with @err set.
 */
int login_next_request(struct login *l, uint8_t bhs[ISCSI_BHS_LEN], GByteArray *data, GError **err)
{
	size_t chunk;
	bool cont;

	g_byte_array_set_size(data, 0);
	if (l->error) {
		g_propagate_error(err, g_error_copy(l->error));
		return -1;
	}
	if (l->state != LOGIN_SECURITY_NEGOTIATION && l->state != LOGIN_OPERATIONAL_NEGOTIATION) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_PROTOCOL,
			    "no login request is due in state %s", login_state_name(l));
		return -1;
	}
	if (l->waiting) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_PROTOCOL,
			    "the response to the previous login request has not arrived");
		return -1;
	}
	if (l->ack_continue) {
		/* The target is sending a long response: ask for the rest. */
		fill_bhs(l, bhs, l->req_csg, l->req_nsg, false, false, 0);
		l->sent_cont = false;
		l->sent_transit = false;
	} else {
		chunk = MIN(l->out->len - l->out_off, (size_t)LOGIN_MAX_PDU_DATA);
		cont = l->out_off + chunk < l->out->len;
		g_byte_array_append(data, l->out->data + l->out_off, (guint)chunk);
		l->out_off += chunk;
		fill_bhs(l, bhs, l->req_csg, l->req_nsg, l->req_transit && !cont, cont,
			 (uint32_t)chunk);
		l->sent_cont = cont;
		l->sent_transit = l->req_transit && !cont;
	}
	l->waiting = true;
	return 0;
}

/* User-facing text for a non-success Status-Class/Status-Detail. */
static char *status_message(const struct login *l, uint8_t cls, uint8_t detail)
{
	const char *t = target_label(l);

	switch ((cls << 8) | detail) {
	case 0x0200:
		return g_strdup_printf("login to %s failed: the target reports an initiator "
				       "error (0x0200)",
				       t);
	case 0x0201:
		return g_strdup("authentication failed: the target rejected our CHAP "
				"credentials");
	case 0x0202:
		return g_strdup_printf("authorization failure: this initiator is not allowed to "
				       "log in to %s",
				       t);
	case 0x0203:
		return g_strdup_printf("target not found: %s", t);
	case 0x0204:
		return g_strdup_printf("target removed: %s is no longer available", t);
	case 0x0205:
		return g_strdup_printf("%s does not support iSCSI protocol version 0", t);
	case 0x0206:
		return g_strdup_printf("%s refuses another connection: too many connections", t);
	case 0x0207:
		return g_strdup_printf("%s reports a missing login parameter", t);
	case 0x0208:
		return g_strdup_printf("%s cannot include this connection in the session", t);
	case 0x0209:
		return g_strdup_printf("%s does not support this session type (%s)", t,
				       l->cfg.discovery ? "Discovery" : "Normal");
	case 0x020a:
		return g_strdup_printf("%s has no session with the given TSIH to add a "
				       "connection to",
				       t);
	case 0x020b:
		return g_strdup_printf("%s rejected an invalid login request", t);
	case 0x0300:
		return g_strdup_printf("%s reports a target error during login", t);
	case 0x0301:
		return g_strdup_printf("%s: service unavailable, try again later", t);
	case 0x0302:
		return g_strdup_printf("%s is out of resources", t);
	}
	return g_strdup_printf("login to %s failed with status 0x%02x%02x", t, cls, detail);
}

static enum login_step handle_redirect(struct login *l, const uint8_t *data, uint32_t dlen,
				       GError **err)
{
	g_autoptr(GPtrArray) pairs = NULL;
	GError *e = NULL;
	const char *addr;
	uint16_t tpgt;
	bool has_tpgt;

	pairs = text_parse(data, dlen, &e);
	if (!pairs) {
		fail_from(l, err, LOGIN_ERROR_PROTOCOL, e);
		return LOGIN_STEP_FAILED;
	}
	addr = text_lookup(pairs, "TargetAddress");
	if (!addr) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "%s redirected the login without a TargetAddress", target_label(l));
		return LOGIN_STEP_FAILED;
	}
	if (!text_parse_address(addr, &l->redirect_host, &l->redirect_port, &tpgt, &has_tpgt, &e)) {
		fail_from(l, err, LOGIN_ERROR_PROTOCOL, e);
		return LOGIN_STEP_FAILED;
	}
	l->state = LOGIN_REDIRECTED;
	forget_our_challenge(l);
	return LOGIN_STEP_REDIRECT;
}

/* Keys of the security stage; the rest go to the operational negotiation. */
static bool is_security_key(const char *key)
{
	return strcmp(key, "AuthMethod") == 0 || g_str_has_prefix(key, "CHAP_");
}

static bool chap_alg_offered(uint32_t alg)
{
	g_auto(GStrv) list = g_strsplit(chap_offer_list(), ",", -1);
	unsigned int i;

	for (i = 0; list[i]; i++) {
		if (strtoul(list[i], NULL, 10) == alg)
			return true;
	}
	return false;
}

static bool sec_auth_method(struct login *l, const GPtrArray *pairs, bool transit, GError **err)
{
	const char *m = text_lookup(pairs, "AuthMethod");

	if (m && strcmp(m, "CHAP") == 0 && l->use_chap) {
		begin_request(l, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, false);
		text_append(l->out, "CHAP_A", chap_offer_list());
		l->sec = SECURITY_CHAP_ALGORITHM;
		return true;
	}
	if ((m && strcmp(m, "None") == 0) || (!m && !l->use_chap && transit)) {
		if (l->mutual) {
			fail(l, err, LOGIN_ERROR_AUTH,
			     "%s does not authenticate itself, but mutual CHAP is configured",
			     target_label(l));
			return false;
		}
		l->sec = SECURITY_DONE;
		return true;
	}
	if (!l->use_chap) {
		fail(l, err, LOGIN_ERROR_AUTH,
		     "%s requires authentication (answered AuthMethod=%s), but no CHAP "
		     "credentials are configured",
		     target_label(l), m ? m : "nothing");
		return false;
	}
	fail(l, err, LOGIN_ERROR_PROTOCOL, "%s answered AuthMethod=%s to our offer of %s",
	     target_label(l), m ? m : "nothing", l->mutual ? "CHAP" : "CHAP,None");
	return false;
}

static bool sec_chap_challenge(struct login *l, const GPtrArray *pairs, GError **err)
{
	const char *a = text_lookup(pairs, "CHAP_A");
	const char *i = text_lookup(pairs, "CHAP_I");
	const char *c = text_lookup(pairs, "CHAP_C");
	uint8_t resp[CHAP_MAX_DIGEST];
	g_autoptr(GByteArray) chal = NULL;
	g_autofree char *resp_hex = NULL;
	uint32_t alg, id;
	size_t rlen;
	GError *e = NULL;

	if (!a || !i || !c) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "%s sent no CHAP challenge (missing %s)",
		     target_label(l),
		     !a	  ? "CHAP_A"
		     : !i ? "CHAP_I"
			  : "CHAP_C");
		return false;
	}
	if (!text_parse_uint("CHAP_A", a, 0, 255, &alg, &e) ||
	    !text_parse_uint("CHAP_I", i, 0, 255, &id, &e)) {
		fail_from(l, err, LOGIN_ERROR_PROTOCOL, e);
		return false;
	}
	if (!chap_alg_offered(alg) || chap_digest_len(alg) == 0) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "%s chose CHAP_A=%u, which is not one of the algorithms we offered (%s)",
		     target_label(l), alg, chap_offer_list());
		return false;
	}
	chal = chap_decode(c, CHAP_MAX_CHALLENGE, &e);
	if (!chal) {
		fail_from(l, err, LOGIN_ERROR_PROTOCOL, e);
		return false;
	}
	if (chal->len == 0) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "%s sent an empty CHAP challenge",
		     target_label(l));
		return false;
	}
	if (challenge_is_ours(chal->data, chal->len)) {
		fail(l, err, LOGIN_ERROR_AUTH,
		     "%s sent back a CHAP challenge we issued ourselves: refusing a "
		     "reflection attack",
		     target_label(l));
		return false;
	}
	l->alg = alg;
	rlen = chap_response(l->alg, (uint8_t)id, l->cfg.chap_secret, l->cfg.chap_secret_len,
			     chal->data, chal->len, resp);
	resp_hex = chap_encode_hex(resp, rlen);

	begin_request(l, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, true);
	text_append(l->out, "CHAP_N", l->cfg.chap_user);
	text_append(l->out, "CHAP_R", resp_hex);
	if (l->mutual) {
		size_t clen = MAX((size_t)CHAP_OUR_CHALLENGE_MIN, chap_digest_len(l->alg));
		uint8_t ours[CHAP_MAX_CHALLENGE];
		g_autofree char *ours_hex = NULL;

		chap_random(&l->our_id, 1);
		chap_random(ours, clen);
		ours_hex = chap_encode_hex(ours, clen);
		l->our_chal = g_bytes_new(ours, clen);
		challenge_register(l->our_chal);
		text_append_uint(l->out, "CHAP_I", l->our_id);
		text_append(l->out, "CHAP_C", ours_hex);
	}
	l->sec = SECURITY_CHAP_RESPONSE;
	return true;
}

static bool sec_chap_verify(struct login *l, const GPtrArray *pairs, GError **err)
{
	const char *n = text_lookup(pairs, "CHAP_N");
	const char *r = text_lookup(pairs, "CHAP_R");
	g_autoptr(GByteArray) resp = NULL;
	gsize clen;
	const uint8_t *chal;
	GError *e = NULL;

	if (!l->mutual) {
		l->sec = SECURITY_DONE;
		return true;
	}
	if (!n || !r) {
		fail(l, err, LOGIN_ERROR_AUTH,
		     "%s did not answer our mutual CHAP challenge (no %s)", target_label(l),
		     !n ? "CHAP_N" : "CHAP_R");
		return false;
	}
	if (strcmp(n, l->cfg.mutual_user) != 0) {
		fail(l, err, LOGIN_ERROR_AUTH,
		     "mutual CHAP failed: %s identified itself as \"%s\", expected \"%s\"",
		     target_label(l), n, l->cfg.mutual_user);
		return false;
	}
	resp = chap_decode(r, CHAP_MAX_DIGEST, &e);
	if (!resp) {
		fail_from(l, err, LOGIN_ERROR_AUTH, e);
		return false;
	}
	chal = g_bytes_get_data(l->our_chal, &clen);
	if (!chap_verify(l->alg, l->our_id, l->cfg.mutual_secret, l->cfg.mutual_secret_len, chal,
			 clen, resp->data, resp->len)) {
		fail(l, err, LOGIN_ERROR_AUTH,
		     "mutual CHAP failed: %s does not know the secret we share with it",
		     target_label(l));
		return false;
	}
	forget_our_challenge(l);
	l->sec = SECURITY_DONE;
	return true;
}

static void enter_operational(struct login *l, GByteArray *pending_reply)
{
	l->state = LOGIN_OPERATIONAL_NEGOTIATION;
	begin_request(l, ISCSI_STAGE_OPERATIONAL, ISCSI_STAGE_FULL_FEATURE, true);
	g_byte_array_append(l->out, pending_reply->data, pending_reply->len);
	negotiation_offer(&l->neg, l->out);
}

static enum login_step enter_full_feature(struct login *l, GError **err)
{
	if (l->tsih == 0) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "%s completed the login without assigning a TSIH", target_label(l));
		return LOGIN_STEP_FAILED;
	}
	if (l->cfg.tsih != 0 && l->tsih != l->cfg.tsih) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "%s answered with TSIH 0x%04x to a login for session 0x%04x", target_label(l),
		     l->tsih, l->cfg.tsih);
		return LOGIN_STEP_FAILED;
	}
	l->state = LOGIN_FULL_FEATURE;
	forget_our_challenge(l);
	return LOGIN_STEP_DONE;
}

/* Negotiation errors keep their message; their kind maps to ours. */
static void fail_negotiation(struct login *l, GError **err, GError *e)
{
	int code = g_error_matches(e, NEGOTIATION_ERROR, NEGOTIATION_ERROR_UNSUPPORTED)
		       ? LOGIN_ERROR_UNSUPPORTED
		       : LOGIN_ERROR_PROTOCOL;

	fail_from(l, err, code, e);
}

/* Security stage: AuthMethod and CHAP steps, then leave for operational. */
static enum login_step state_security(struct login *l, GPtrArray *pairs, bool transit, uint8_t nsg,
				      GError **err)
{
	g_autoptr(GPtrArray) sec = g_ptr_array_new();
	g_autoptr(GPtrArray) op = g_ptr_array_new();
	g_autoptr(GByteArray) reply = g_byte_array_new();
	enum login_security_step step = l->sec;
	GError *e = NULL;
	bool ok = true;
	guint i;

	for (i = 0; i < pairs->len; i++) {
		struct text_pair *tp = g_ptr_array_index(pairs, i);

		g_ptr_array_add(is_security_key(tp->key) ? sec : op, tp);
	}
	/* TargetPortalGroupTag and TargetAlias may come in this stage. */
	if (negotiation_handle(&l->neg, op, reply, &e) < 0) {
		fail_negotiation(l, err, e);
		return LOGIN_STEP_FAILED;
	}

	switch (step) {
	case SECURITY_AUTH_METHOD:
		ok = sec_auth_method(l, sec, transit, err);
		break;
	case SECURITY_CHAP_ALGORITHM:
		ok = sec_chap_challenge(l, sec, err);
		break;
	case SECURITY_CHAP_RESPONSE:
		ok = sec_chap_verify(l, sec, err);
		break;
	case SECURITY_DONE:
		break;
	}
	if (!ok)
		return LOGIN_STEP_FAILED;

	if (transit) {
		if (l->sec != SECURITY_DONE) {
			fail(l, err, LOGIN_ERROR_PROTOCOL,
			     "%s left the security stage before authentication completed",
			     target_label(l));
			return LOGIN_STEP_FAILED;
		}
		if (nsg == ISCSI_STAGE_FULL_FEATURE)
			return enter_full_feature(l, err);
		enter_operational(l, reply);
		return LOGIN_STEP_SEND;
	}
	/* Authenticated, but the target stayed: ask again to move on. */
	if (l->sec == SECURITY_DONE)
		begin_request(l, ISCSI_STAGE_SECURITY, ISCSI_STAGE_OPERATIONAL, true);
	g_byte_array_append(l->out, reply->data, reply->len);
	return LOGIN_STEP_SEND;
}

/* Operational stage: negotiate until the target moves to full feature. */
static enum login_step state_operational(struct login *l, GPtrArray *pairs, bool transit,
					 GError **err)
{
	g_autoptr(GByteArray) reply = g_byte_array_new();
	GError *e = NULL;

	if (negotiation_handle(&l->neg, pairs, reply, &e) < 0) {
		fail_negotiation(l, err, e);
		return LOGIN_STEP_FAILED;
	}
	if (transit) {
		if (reply->len) {
			fail(l, err, LOGIN_ERROR_PROTOCOL,
			     "%s offered keys that need an answer while ending the login",
			     target_label(l));
			return LOGIN_STEP_FAILED;
		}
		if (!negotiation_done(&l->neg))
			g_debug("%s did not answer every key we offered: RFC defaults apply",
				target_label(l));
		return enter_full_feature(l, err);
	}
	begin_request(l, ISCSI_STAGE_OPERATIONAL, ISCSI_STAGE_FULL_FEATURE, true);
	g_byte_array_append(l->out, reply->data, reply->len);
	return LOGIN_STEP_SEND;
}

/* Header checks that hold for every Login Response. */
static bool check_header(struct login *l, const struct iscsi_login_rsp *r, uint32_t dlen,
			 GError **err)
{
	uint8_t op = r->opcode & ISCSI_OPCODE_MASK;

	if (op == ISCSI_OP_REJECT) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "%s rejected our login request (reason 0x%02x)",
		     target_label(l), ((const struct iscsi_reject *)r)->reason);
		return false;
	}
	if (op != ISCSI_OP_LOGIN_RSP) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "%s answered a login request with opcode 0x%02x instead of a Login "
		     "Response",
		     target_label(l), op);
		return false;
	}
	if (iscsi_dlength(r->dlength) != dlen || r->ahs_len != 0) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "Login Response data length mismatch (header says %u, got %u, AHS %u)",
		     iscsi_dlength(r->dlength), dlen, r->ahs_len);
		return false;
	}
	if (g_ntohl(r->itt) != l->cfg.itt) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "Login Response has ITT 0x%08x, our request had 0x%08x", g_ntohl(r->itt),
		     l->cfg.itt);
		return false;
	}
	return true;
}

/* StatSN sequencing, version and the T/C/CSG/NSG rules. */
static bool check_flow(struct login *l, const struct iscsi_login_rsp *r, GError **err)
{
	bool transit = r->flags & ISCSI_LOGIN_TRANSIT;
	bool cont = r->flags & ISCSI_LOGIN_CONTINUE;
	uint8_t csg = (r->flags & ISCSI_LOGIN_CSG_MASK) >> ISCSI_LOGIN_CSG_SHIFT;
	uint8_t nsg = r->flags & ISCSI_LOGIN_NSG_MASK;
	uint32_t statsn = g_ntohl(r->statsn);

	if (r->active_version != 0) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "%s chose iSCSI version %u; we only speak version 0", target_label(l),
		     r->active_version);
		return false;
	}
	if (l->have_statsn && statsn != l->exp_statsn) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "Login Response has StatSN %u, expected %u",
		     statsn, l->exp_statsn);
		return false;
	}
	l->have_statsn = true;
	l->statsn = statsn;
	l->exp_statsn = statsn + 1;
	l->exp_cmdsn = g_ntohl(r->exp_cmdsn);
	l->max_cmdsn = g_ntohl(r->max_cmdsn);
	l->tsih = g_ntohs(r->tsih);

	if (csg != l->req_csg) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "Login Response is for stage %u, our request was in stage %u", csg,
		     l->req_csg);
		return false;
	}
	if (transit && cont) {
		fail(l, err, LOGIN_ERROR_PROTOCOL,
		     "Login Response has both the T and the C bit set");
		return false;
	}
	if (transit && !l->sent_transit) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "%s changed stage though we did not ask to",
		     target_label(l));
		return false;
	}
	if (transit && nsg != l->req_nsg) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "%s moved to stage %u; we asked for stage %u",
		     target_label(l), nsg, l->req_nsg);
		return false;
	}
	return true;
}

/**
 * login_handle_response() - advance the login with one Login Response.
 * @l: the login
 * @bhs: the response's BHS
 * @data: its data segment
 * @dlen: its length, which must equal the BHS DataSegmentLength
 * @err: set with LOGIN_STEP_FAILED
 *
 * Return: what the caller does next.
 */
enum login_step login_handle_response(struct login *l, const uint8_t *bhs, const uint8_t *data,
				      uint32_t dlen, GError **err)
{
	const struct iscsi_login_rsp *r = (const struct iscsi_login_rsp *)bhs;
	g_autoptr(GPtrArray) pairs = NULL;
	GError *e = NULL;
	bool transit;
	uint8_t nsg;

	if (!l->waiting ||
	    (l->state != LOGIN_SECURITY_NEGOTIATION && l->state != LOGIN_OPERATIONAL_NEGOTIATION)) {
		g_set_error(err, LOGIN_ERROR, LOGIN_ERROR_PROTOCOL,
			    "unexpected Login Response in state %s", login_state_name(l));
		return LOGIN_STEP_FAILED;
	}
	l->waiting = false;
	if (!check_header(l, r, dlen, err))
		return LOGIN_STEP_FAILED;

	l->status = (uint16_t)((r->status_class << 8) | r->status_detail);
	if (r->status_class == ISCSI_LOGIN_CLASS_REDIRECT)
		return handle_redirect(l, data, dlen, err);
	if (r->status_class != ISCSI_LOGIN_CLASS_SUCCESS) {
		g_autofree char *msg = status_message(l, r->status_class, r->status_detail);
		int code = LOGIN_ERROR_TARGET;

		if (l->status == 0x0201)
			code = LOGIN_ERROR_AUTH;
		else if (r->status_class == ISCSI_LOGIN_CLASS_INITIATOR)
			code = LOGIN_ERROR_REJECTED;
		fail(l, err, code, "%s", msg);
		return LOGIN_STEP_FAILED;
	}
	/*
	 * Only a successful response must echo the ISID: tgt 1.0.85 rejects a
	 * login (unknown target, failed CHAP) before it copies the ISID, so
	 * its failure responses carry zeroes there.
	 */
	if (memcmp(r->isid, l->cfg.isid, sizeof(r->isid)) != 0) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "Login Response does not echo our ISID");
		return LOGIN_STEP_FAILED;
	}
	if (!check_flow(l, r, err))
		return LOGIN_STEP_FAILED;
	if (++l->exchanges > LOGIN_MAX_EXCHANGES) {
		fail(l, err, LOGIN_ERROR_PROTOCOL, "login to %s did not finish after %d exchanges",
		     target_label(l), LOGIN_MAX_EXCHANGES);
		return LOGIN_STEP_FAILED;
	}

	transit = r->flags & ISCSI_LOGIN_TRANSIT;
	nsg = r->flags & ISCSI_LOGIN_NSG_MASK;
	if (l->sent_cont) {
		/* The target acknowledges a piece of our text; send the next. */
		if (dlen != 0 || transit || (r->flags & ISCSI_LOGIN_CONTINUE)) {
			fail(l, err, LOGIN_ERROR_PROTOCOL,
			     "%s answered a continued login request with other than an empty "
			     "response",
			     target_label(l));
			return LOGIN_STEP_FAILED;
		}
		return LOGIN_STEP_SEND;
	}
	if (text_accum_add(&l->acc, data, dlen, &e) < 0) {
		fail_from(l, err, LOGIN_ERROR_PROTOCOL, e);
		return LOGIN_STEP_FAILED;
	}
	l->ack_continue = r->flags & ISCSI_LOGIN_CONTINUE;
	if (l->ack_continue)
		return LOGIN_STEP_SEND;

	pairs = text_parse(l->acc.buf->data, l->acc.buf->len, &e);
	text_accum_clear(&l->acc);
	if (!pairs) {
		fail_from(l, err, LOGIN_ERROR_PROTOCOL, e);
		return LOGIN_STEP_FAILED;
	}
	if (l->state == LOGIN_SECURITY_NEGOTIATION)
		return state_security(l, pairs, transit, nsg, err);
	return state_operational(l, pairs, transit, err);
}

enum login_state login_state(const struct login *l)
{
	return l->state;
}

enum login_security_step login_security_step(const struct login *l)
{
	return l->sec;
}

const char *login_state_name(const struct login *l)
{
	switch (l->state) {
	case LOGIN_SECURITY_NEGOTIATION:
		switch (l->sec) {
		case SECURITY_AUTH_METHOD:
			return "security negotiation (AuthMethod offered)";
		case SECURITY_CHAP_ALGORITHM:
			return "security negotiation (CHAP algorithms offered)";
		case SECURITY_CHAP_RESPONSE:
			return "security negotiation (CHAP response sent)";
		case SECURITY_DONE:
			return "security negotiation (authenticated)";
		}
		break;
	case LOGIN_OPERATIONAL_NEGOTIATION:
		return "operational negotiation";
	case LOGIN_FULL_FEATURE:
		return "full feature phase";
	case LOGIN_REDIRECTED:
		return "redirected";
	case LOGIN_FAILED:
		return "failed";
	}
	return "unknown";
}

void login_params(const struct login *l, struct iscsi_params *out)
{
	negotiation_result(&l->neg, out);
}

uint16_t login_tsih(const struct login *l)
{
	return l->tsih;
}

uint16_t login_status(const struct login *l)
{
	return l->status;
}

bool login_redirect(const struct login *l, const char **host, uint16_t *port, bool *permanent)
{
	if (l->state != LOGIN_REDIRECTED)
		return false;
	*host = l->redirect_host;
	*port = l->redirect_port;
	*permanent = (l->status & 0xff) == ISCSI_LOGIN_REDIRECT_PERM;
	return true;
}

uint32_t login_statsn(const struct login *l)
{
	return l->statsn;
}

uint32_t login_exp_cmdsn(const struct login *l)
{
	return l->exp_cmdsn;
}

uint32_t login_max_cmdsn(const struct login *l)
{
	return l->max_cmdsn;
}
