// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Operational parameter negotiation, table driven: each key has a result
 * function (RFC 7143 6.2.2), a range and the kinds of session it applies to.
 */
#include <stddef.h>
#include <string.h>

#include "common/iscsi-proto.h"
#include "initiator/keys.h"
#include "initiator/negotiate.h"

G_DEFINE_QUARK(isa - negotiation - error - quark, negotiation_error)

/* How the outcome of a key is decided (RFC 7143 6.2.2 and 13). */
enum key_kind {
	KIND_DIGEST,  /* list: the responder picks the first value it supports */
	KIND_AND,     /* boolean, result = offer AND answer */
	KIND_OR,      /* boolean, result = offer OR answer */
	KIND_MIN,     /* numerical, result = minimum */
	KIND_MAX,     /* numerical, result = maximum */
	KIND_DECLARE, /* each side states its own value (MaxRecvDataSegmentLength) */
};

/* Where a key applies. */
#define APPLY_DISCOVERY 0x1 /* also in discovery sessions */
#define APPLY_TCP	0x2 /* on TCP connections */
#define APPLY_ISER	0x4 /* on iSER connections */
#define APPLY_NORMAL	(APPLY_TCP | APPLY_ISER)

enum field_type {
	FIELD_BOOL,
	FIELD_U32,
	FIELD_DIGEST,
};

/**
 * struct key_desc - one operational key we know.
 * @name: the key
 * @kind: its result function
 * @type: type of the struct iscsi_params member it sets
 * @offset: offsetof() that member
 * @min: smallest legal value (numerical keys)
 * @max: largest legal value (numerical keys)
 * @apply: APPLY_* where we offer the key and accept it
 * @offer_iser_only: offered on iSER only, though answered everywhere
 */
struct key_desc {
	const char *name;
	enum key_kind kind;
	enum field_type type;
	size_t offset;
	uint32_t min;
	uint32_t max;
	unsigned int apply;
	bool offer_iser_only;
};

#define P(member) offsetof(struct iscsi_params, member)

/* RDMAExtensions is leading-only and comes first so that it is settled early. */
static const struct key_desc keys[] = {
    {"RDMAExtensions", KIND_AND, FIELD_BOOL, P(rdma_extensions), 0, 1, APPLY_NORMAL, true},
    {"HeaderDigest", KIND_DIGEST, FIELD_DIGEST, P(header_digest), 0, 1,
     APPLY_NORMAL | APPLY_DISCOVERY, false},
    {"DataDigest", KIND_DIGEST, FIELD_DIGEST, P(data_digest), 0, 1, APPLY_NORMAL | APPLY_DISCOVERY,
     false},
    {"MaxConnections", KIND_MIN, FIELD_U32, P(max_connections), 1, 65535, APPLY_NORMAL, false},
    {"InitialR2T", KIND_OR, FIELD_BOOL, P(initial_r2t), 0, 1, APPLY_NORMAL, false},
    {"ImmediateData", KIND_AND, FIELD_BOOL, P(immediate_data), 0, 1, APPLY_NORMAL, false},
    {"MaxRecvDataSegmentLength", KIND_DECLARE, FIELD_U32, P(max_recv_dsl), ISCSI_MIN_MRDSL,
     ISCSI_MAX_DSL, APPLY_TCP | APPLY_DISCOVERY, false},
    {"MaxBurstLength", KIND_MIN, FIELD_U32, P(max_burst), 512, ISCSI_MAX_DSL, APPLY_NORMAL, false},
    {"FirstBurstLength", KIND_MIN, FIELD_U32, P(first_burst), 512, ISCSI_MAX_DSL, APPLY_NORMAL,
     false},
    {"DefaultTime2Wait", KIND_MAX, FIELD_U32, P(default_time2wait), 0, 3600, APPLY_NORMAL, false},
    {"DefaultTime2Retain", KIND_MIN, FIELD_U32, P(default_time2retain), 0, 3600, APPLY_NORMAL,
     false},
    {"MaxOutstandingR2T", KIND_MIN, FIELD_U32, P(max_outstanding_r2t), 1, 65535, APPLY_NORMAL,
     false},
    {"DataPDUInOrder", KIND_OR, FIELD_BOOL, P(data_pdu_in_order), 0, 1, APPLY_NORMAL, false},
    {"DataSequenceInOrder", KIND_OR, FIELD_BOOL, P(data_sequence_in_order), 0, 1, APPLY_NORMAL,
     false},
    {"ErrorRecoveryLevel", KIND_MIN, FIELD_U32, P(error_recovery_level), 0, 2, APPLY_NORMAL, false},
    {"InitiatorRecvDataSegmentLength", KIND_MIN, FIELD_U32, P(initiator_recv_dsl), ISCSI_MIN_MRDSL,
     ISCSI_MAX_DSL, APPLY_ISER, false},
    {"TargetRecvDataSegmentLength", KIND_MIN, FIELD_U32, P(target_recv_dsl), ISCSI_MIN_MRDSL,
     ISCSI_MAX_DSL, APPLY_ISER, false},
};

_Static_assert(G_N_ELEMENTS(keys) <= 32, "one bit per key in offered/settled");

#define RDMA_KEY_INDEX 0

static uint32_t field_get(const struct iscsi_params *p, const struct key_desc *d)
{
	const char *base = (const char *)p + d->offset;

	switch (d->type) {
	case FIELD_BOOL:
		return *(const bool *)base;
	case FIELD_DIGEST:
		return *(const enum iscsi_digest *)base;
	case FIELD_U32:
		break;
	}
	return *(const uint32_t *)base;
}

static void field_set(struct iscsi_params *p, const struct key_desc *d, uint32_t v)
{
	char *base = (char *)p + d->offset;

	switch (d->type) {
	case FIELD_BOOL:
		*(bool *)base = v != 0;
		return;
	case FIELD_DIGEST:
		*(enum iscsi_digest *)base = v ? ISCSI_DIGEST_CRC32C : ISCSI_DIGEST_NONE;
		return;
	case FIELD_U32:
		break;
	}
	*(uint32_t *)base = v;
}

static unsigned int session_kind(const struct negotiation *n)
{
	unsigned int k = n->iser ? APPLY_ISER : APPLY_TCP;

	return n->discovery ? (k | APPLY_DISCOVERY) : k;
}

static bool key_applies(const struct negotiation *n, const struct key_desc *d)
{
	unsigned int k = session_kind(n);

	if ((k & APPLY_DISCOVERY) && !(d->apply & APPLY_DISCOVERY))
		return false;
	return (d->apply & k & APPLY_NORMAL) != 0;
}

static bool key_offered_by_us(const struct negotiation *n, const struct key_desc *d)
{
	return key_applies(n, d) && (!d->offer_iser_only || n->iser);
}

static const struct key_desc *find_key(const char *name, unsigned int *index)
{
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (strcmp(keys[i].name, name) == 0) {
			*index = i;
			return &keys[i];
		}
	}
	return NULL;
}

/**
 * negotiation_init() - start a negotiation.
 * @n: the object
 * @proposal: the values we ask for
 * @discovery: a discovery session
 * @iser: an iSER connection
 */
void negotiation_init(struct negotiation *n, const struct iscsi_params *proposal, bool discovery,
		      bool iser)
{
	memset(n, 0, sizeof(*n));
	n->proposal = *proposal;
	/* The transport decides RDMAExtensions, not the caller's proposal. */
	n->proposal.rdma_extensions = iser && !discovery;
	n->discovery = discovery;
	n->iser = iser;
	iscsi_params_rfc_defaults(&n->result);
}

/* RDMA protects its own data; RFC 7145 leaves no use for iSCSI digests there. */
static bool want_digest(const struct negotiation *n, const struct key_desc *d)
{
	return !n->iser && field_get(&n->proposal, d) == ISCSI_DIGEST_CRC32C;
}

/**
 * negotiation_offer() - append the keys we propose.
 * @n: the object
 * @out: the Login Request text being built
 */
void negotiation_offer(struct negotiation *n, GByteArray *out)
{
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		const struct key_desc *d = &keys[i];
		uint32_t v = field_get(&n->proposal, d);

		/*
		 * A key the target offered first (in the security stage) is
		 * settled by our answer: offering it too would negotiate it twice.
		 */
		if (!key_offered_by_us(n, d) || (n->settled & (1u << i)))
			continue;
		switch (d->kind) {
		case KIND_DIGEST:
			text_append(out, d->name, want_digest(n, d) ? "CRC32C,None" : "None");
			break;
		case KIND_AND:
		case KIND_OR:
			text_append(out, d->name, v ? "Yes" : "No");
			break;
		case KIND_MIN:
		case KIND_MAX:
		case KIND_DECLARE:
			text_append_uint(out, d->name, v);
			break;
		}
		if (d->kind == KIND_DECLARE) {
			/* A declaration is in force as soon as it is sent. */
			field_set(&n->result, d, v);
		} else {
			n->offered |= 1u << i;
		}
	}
}

static bool parse_bool(const char *key, const char *value, uint32_t *out, GError **err)
{
	if (strcmp(value, "Yes") == 0) {
		*out = 1;
		return true;
	}
	if (strcmp(value, "No") == 0) {
		*out = 0;
		return true;
	}
	g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
		    "target sent %s=%s: expected Yes or No", key, value);
	return false;
}

static bool parse_number(const struct key_desc *d, const char *value, uint32_t *out, GError **err)
{
	GError *e = NULL;

	if (!text_parse_uint(d->name, value, d->min, d->max, out, &e)) {
		g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
			    "target sent an invalid value: %s", e->message);
		g_error_free(e);
		return false;
	}
	return true;
}

/* Which digest values we can run: CRC32C only over TCP. */
static bool digest_supported(const struct negotiation *n, const char *v, uint32_t *out)
{
	if (strcmp(v, "None") == 0) {
		*out = ISCSI_DIGEST_NONE;
		return true;
	}
	if (strcmp(v, "CRC32C") == 0 && !n->iser) {
		*out = ISCSI_DIGEST_CRC32C;
		return true;
	}
	return false;
}

/* The target answered a key we offered: check it obeys the result function. */
static int handle_answer(struct negotiation *n, const struct key_desc *d, const char *value,
			 GError **err)
{
	uint32_t ours = field_get(&n->proposal, d);
	uint32_t v;

	switch (d->kind) {
	case KIND_DIGEST:
		if (!digest_supported(n, value, &v) ||
		    (v == ISCSI_DIGEST_CRC32C && !want_digest(n, d))) {
			g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
				    "target answered %s=%s, which is not one of the values we "
				    "offered (%s)",
				    d->name, value, want_digest(n, d) ? "CRC32C,None" : "None");
			return -1;
		}
		break;
	case KIND_AND:
		if (!parse_bool(d->name, value, &v, err))
			return -1;
		if (v && !ours) {
			g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
				    "target answered %s=Yes to our No (result function AND)",
				    d->name);
			return -1;
		}
		break;
	case KIND_OR:
		if (!parse_bool(d->name, value, &v, err))
			return -1;
		if (!v && ours) {
			g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
				    "target answered %s=No to our Yes (result function OR)",
				    d->name);
			return -1;
		}
		break;
	case KIND_MIN:
		if (!parse_number(d, value, &v, err))
			return -1;
		if (v > ours) {
			g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
				    "target answered %s=%u, more than the %u we offered "
				    "(result function Minimum)",
				    d->name, v, ours);
			return -1;
		}
		break;
	case KIND_MAX:
		if (!parse_number(d, value, &v, err))
			return -1;
		if (v < ours) {
			g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
				    "target answered %s=%u, less than the %u we offered "
				    "(result function Maximum)",
				    d->name, v, ours);
			return -1;
		}
		break;
	case KIND_DECLARE:
		g_assert_not_reached();
	}
	field_set(&n->result, d, v);
	return 0;
}

/* The target offered a key on its own: pick the outcome and answer it. */
static int handle_offer(struct negotiation *n, const struct key_desc *d, const char *value,
			GByteArray *reply, GError **err)
{
	uint32_t ours = field_get(&n->proposal, d);
	uint32_t v = 0, res = 0;

	switch (d->kind) {
	case KIND_DIGEST: {
		g_auto(GStrv) list = g_strsplit(value, ",", -1);
		unsigned int i;

		for (i = 0; list[i]; i++) {
			if (digest_supported(n, list[i], &res)) {
				text_append(reply, d->name, list[i]);
				field_set(&n->result, d, res);
				return 0;
			}
		}
		g_debug("target offered %s=%s, none of which we support", d->name, value);
		text_append(reply, d->name, "Reject");
		return 0;
	}
	case KIND_AND:
	case KIND_OR:
		if (!parse_bool(d->name, value, &v, err))
			return -1;
		res = d->kind == KIND_AND ? (v && ours) : (v || ours);
		text_append(reply, d->name, res ? "Yes" : "No");
		break;
	case KIND_MIN:
	case KIND_MAX:
		if (!parse_number(d, value, &v, err))
			return -1;
		res = d->kind == KIND_MIN ? MIN(v, ours) : MAX(v, ours);
		text_append_uint(reply, d->name, res);
		break;
	case KIND_DECLARE:
		g_assert_not_reached();
	}
	field_set(&n->result, d, res);
	return 0;
}

static bool is_refusal(const char *value)
{
	return strcmp(value, "NotUnderstood") == 0 || strcmp(value, "Irrelevant") == 0 ||
	       strcmp(value, "Reject") == 0;
}

/* Keys only the target declares; they need no answer. */
static int handle_target_declaration(struct negotiation *n, const char *key, const char *value,
				     bool *handled, GError **err)
{
	uint32_t v;
	GError *e = NULL;

	*handled = true;
	if (strcmp(key, "TargetAlias") == 0) {
		g_strlcpy(n->result.target_alias, value, sizeof(n->result.target_alias));
	} else if (strcmp(key, "TargetPortalGroupTag") == 0) {
		if (!text_parse_uint(key, value, 0, 65535, &v, &e)) {
			g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
				    "target sent an invalid value: %s", e->message);
			g_error_free(e);
			return -1;
		}
		n->result.target_portal_group_tag = (uint16_t)v;
	} else if (strcmp(key, "TargetAddress") == 0) {
		/* Only meaningful with a redirect status, which the login handles. */
		g_debug("ignoring TargetAddress=%s in a login response that is no redirect", value);
	} else {
		*handled = false;
	}
	return 0;
}

static int handle_pair(struct negotiation *n, const struct text_pair *tp, GByteArray *reply,
		       GError **err)
{
	const struct key_desc *d;
	unsigned int idx;
	bool handled;
	uint32_t v;

	if (handle_target_declaration(n, tp->key, tp->value, &handled, err) < 0)
		return -1;
	if (handled)
		return 0;

	d = find_key(tp->key, &idx);
	if (!d) {
		if (is_refusal(tp->value)) {
			g_debug("target answered %s=%s to a key we never sent", tp->key, tp->value);
			return 0;
		}
		g_debug("target offered unknown key %s=%s: answering NotUnderstood", tp->key,
			tp->value);
		text_append(reply, tp->key, "NotUnderstood");
		return 0;
	}

	if (d->kind == KIND_DECLARE) {
		if (is_refusal(tp->value)) {
			g_debug("target answered %s=%s to our declaration", d->name, tp->value);
			return 0;
		}
		if (!parse_number(d, tp->value, &v, err))
			return -1;
		/* The target's MaxRecvDataSegmentLength bounds what we send. */
		n->result.max_xmit_dsl = v;
		return 0;
	}

	if (n->offered & (1u << idx)) {
		n->offered &= ~(1u << idx);
		n->settled |= 1u << idx;
		if (is_refusal(tp->value)) {
			g_debug("target answered %s=%s: keeping the RFC default", d->name,
				tp->value);
			return 0;
		}
		return handle_answer(n, d, tp->value, err);
	}

	if (is_refusal(tp->value)) {
		g_debug("target answered %s=%s to a key we never sent", d->name, tp->value);
		return 0;
	}
	if (n->settled & (1u << idx)) {
		g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL,
			    "target negotiated %s a second time (%s=%s)", d->name, d->name,
			    tp->value);
		return -1;
	}
	if (!key_applies(n, d)) {
		text_append(reply, d->name, "Irrelevant");
		return 0;
	}
	n->settled |= 1u << idx;
	return handle_offer(n, d, tp->value, reply, err);
}

/**
 * negotiation_handle() - process the operational keys of one login response.
 * @n: the object
 * @pairs: the target's keys (struct text_pair *)
 * @reply: our answers to the target's own offers are appended here
 * @err: set when the target broke the rules or refused iSER
 *
 * Return: 0, or -1 with @err set.
 */
int negotiation_handle(struct negotiation *n, GPtrArray *pairs, GByteArray *reply, GError **err)
{
	guint i;

	for (i = 0; i < pairs->len; i++) {
		if (handle_pair(n, g_ptr_array_index(pairs, i), reply, err) < 0)
			return -1;
	}
	if (n->iser && !n->discovery && (n->settled & (1u << RDMA_KEY_INDEX)) &&
	    !n->result.rdma_extensions) {
		g_set_error(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_UNSUPPORTED,
			    "the target does not accept iSER (RDMAExtensions=Yes refused)");
		return -1;
	}
	return 0;
}

bool negotiation_done(const struct negotiation *n)
{
	return n->offered == 0;
}

/**
 * negotiation_result() - the parameters in force after the negotiation.
 * @n: the object
 * @out: filled in full
 *
 * On iSER the control-PDU limits are the iSER lengths (RFC 7145 6.3, 6.4),
 * so they are copied into max_recv_dsl / max_xmit_dsl for the session,
 * which then uses one pair of fields whatever the transport.
 */
void negotiation_result(const struct negotiation *n, struct iscsi_params *out)
{
	*out = n->result;
	if (out->first_burst > out->max_burst)
		out->first_burst = out->max_burst;
	if (n->iser && out->rdma_extensions) {
		out->max_recv_dsl = out->initiator_recv_dsl;
		out->max_xmit_dsl = out->target_recv_dsl;
	}
}
