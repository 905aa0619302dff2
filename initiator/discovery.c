// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SendTargets discovery: request building and response parsing.
 */
#include <stdarg.h>
#include <string.h>

#include "initiator/discovery.h"
#include "initiator/pdu.h"

G_DEFINE_QUARK(isa - discovery - error - quark, discovery_error)

/* Bound on a whole SendTargets answer: ends endless continuation. */
#define DISCOVERY_TEXT_LIMIT (4u * 1024 * 1024)
/*
 * Bound on its Text Responses, for continuations that carry little or no
 * text: a target putting at least 1 KiB in each still reaches the limit.
 */
#define DISCOVERY_MAX_RESPONSES (DISCOVERY_TEXT_LIMIT / 1024)

static void portal_free(gpointer p)
{
	struct discovery_portal *dp = p;

	g_free(dp->host);
	g_free(dp);
}

static void target_free(gpointer p)
{
	struct discovery_target *t = p;

	g_free(t->name);
	g_ptr_array_unref(t->portals);
	g_free(t);
}

static bool is_refusal(const char *value)
{
	return strcmp(value, "Reject") == 0 || strcmp(value, "Irrelevant") == 0 ||
	       strcmp(value, "NotUnderstood") == 0;
}

/**
 * discovery_parse() - turn a SendTargets answer into a target list.
 * @data: the complete text (all continued responses together)
 * @len: its length
 * @err: set on failure
 *
 * Each TargetName starts a target; the TargetAddress keys after it are its
 * portals.
 *
 * Return: array of struct discovery_target *, or NULL with @err set.
 */
GPtrArray *discovery_parse(const uint8_t *data, size_t len, GError **err)
{
	g_autoptr(GPtrArray) pairs = NULL;
	g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(target_free);
	struct discovery_target *cur = NULL;
	GError *e = NULL;
	guint i;

	pairs = text_parse_list(data, len, &e);
	if (!pairs) {
		g_set_error(err, DISCOVERY_ERROR, DISCOVERY_ERROR_PROTOCOL,
			    "bad SendTargets response: %s", e->message);
		g_error_free(e);
		return NULL;
	}
	for (i = 0; i < pairs->len; i++) {
		const struct text_pair *tp = g_ptr_array_index(pairs, i);
		struct discovery_portal *p;
		bool has_tpgt;

		if (strcmp(tp->key, "SendTargets") == 0 && is_refusal(tp->value)) {
			g_set_error(err, DISCOVERY_ERROR, DISCOVERY_ERROR_REFUSED,
				    "the target refused discovery: SendTargets=%s", tp->value);
			return NULL;
		}
		if (strcmp(tp->key, "TargetName") == 0) {
			if (tp->value[0] == '\0') {
				g_set_error(err, DISCOVERY_ERROR, DISCOVERY_ERROR_PROTOCOL,
					    "bad SendTargets response: empty TargetName");
				return NULL;
			}
			cur = g_new0(struct discovery_target, 1);
			cur->name = g_strdup(tp->value);
			cur->portals = g_ptr_array_new_with_free_func(portal_free);
			g_ptr_array_add(targets, cur);
			continue;
		}
		if (strcmp(tp->key, "TargetAddress") != 0) {
			g_debug("ignoring %s=%s in a SendTargets response", tp->key, tp->value);
			continue;
		}
		if (!cur) {
			g_set_error(err, DISCOVERY_ERROR, DISCOVERY_ERROR_PROTOCOL,
				    "bad SendTargets response: TargetAddress=%s before any "
				    "TargetName",
				    tp->value);
			return NULL;
		}
		p = g_new0(struct discovery_portal, 1);
		if (!text_parse_address(tp->value, &p->host, &p->port, &p->tpgt, &has_tpgt, &e)) {
			g_free(p);
			g_set_error(err, DISCOVERY_ERROR, DISCOVERY_ERROR_PROTOCOL,
				    "bad SendTargets response for %s: %s", cur->name, e->message);
			g_error_free(e);
			return NULL;
		}
		g_ptr_array_add(cur->portals, p);
	}
	return g_steal_pointer(&targets);
}

/**
 * discovery_init() - start a SendTargets exchange.
 * @d: the object
 * @itt: Initiator Task Tag for all its Text Requests
 */
void discovery_init(struct discovery *d, uint32_t itt)
{
	memset(d, 0, sizeof(*d));
	d->itt = itt;
	d->ttt = ISCSI_RESERVED_TAG;
	text_accum_init(&d->acc, DISCOVERY_TEXT_LIMIT);
}

void discovery_clear(struct discovery *d)
{
	text_accum_free(&d->acc);
	if (d->targets)
		g_ptr_array_unref(d->targets);
	d->targets = NULL;
}

/**
 * discovery_next_request() - build the next Text Request.
 * @d: the object
 * @cmdsn: CmdSN of this request
 * @exp_statsn: ExpStatSN of this request
 * @bhs: receives the BHS
 * @data: receives the text (emptied first)
 */
void discovery_next_request(struct discovery *d, uint32_t cmdsn, uint32_t exp_statsn,
			    uint8_t bhs[ISCSI_BHS_LEN], GByteArray *data)
{
	g_byte_array_set_size(data, 0);
	if (!d->started)
		text_append(data, "SendTargets", "All");
	d->started = true;

	pdu_build_text_req(bhs, d->itt, d->ttt, cmdsn, exp_statsn, true, false, data->len);
}

static enum discovery_step fail(GError **err, int code, const char *msg, ...) G_GNUC_PRINTF(3, 4);

static enum discovery_step fail(GError **err, int code, const char *msg, ...)
{
	va_list ap;
	g_autofree char *text = NULL;

	va_start(ap, msg);
	text = g_strdup_vprintf(msg, ap);
	va_end(ap);
	g_set_error_literal(err, DISCOVERY_ERROR, code, text);
	return DISCOVERY_STEP_FAILED;
}

/**
 * discovery_handle_response() - take in one Text Response.
 * @d: the object
 * @bhs: its BHS
 * @data: its data segment
 * @dlen: its length, which must equal the BHS DataSegmentLength
 * @err: set with DISCOVERY_STEP_FAILED
 *
 * Return: what the caller does next.
 */
enum discovery_step discovery_handle_response(struct discovery *d, const uint8_t *bhs,
					      const uint8_t *data, uint32_t dlen, GError **err)
{
	const struct iscsi_text_rsp *r = (const struct iscsi_text_rsp *)bhs;
	bool final = r->flags & ISCSI_FLAG_FINAL;
	bool cont = r->flags & ISCSI_FLAG_CONTINUE;
	uint32_t ttt = g_ntohl(r->ttt);
	GError *e = NULL;

	if (!d->started || d->done)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "unexpected Text Response: no SendTargets request outstanding");
	if ((r->opcode & ISCSI_OPCODE_MASK) != ISCSI_OP_TEXT_RSP)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "expected a Text Response, got opcode 0x%02x",
			    r->opcode & ISCSI_OPCODE_MASK);
	if (iscsi_dlength(r->dlength) != dlen || r->ahs_len != 0)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "Text Response data length mismatch (header says %u, got %u)",
			    iscsi_dlength(r->dlength), dlen);
	if (g_ntohl(r->itt) != d->itt)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "Text Response has ITT 0x%08x, our request had 0x%08x", g_ntohl(r->itt),
			    d->itt);
	if (final && cont)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "Text Response has both the F and the C bit set");
	if (final && ttt != ISCSI_RESERVED_TAG)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "final Text Response carries TTT 0x%08x instead of 0xffffffff", ttt);
	if (!final && ttt == ISCSI_RESERVED_TAG)
		return fail(err, DISCOVERY_ERROR_PROTOCOL,
			    "continued Text Response has no Target Transfer Tag");
	if (text_accum_add(&d->acc, data, dlen, &e) < 0) {
		g_propagate_error(err, e);
		return DISCOVERY_STEP_FAILED;
	}
	if (!final) {
		if (++d->responses >= DISCOVERY_MAX_RESPONSES)
			return fail(err, DISCOVERY_ERROR_PROTOCOL,
				    "the target's SendTargets answer did not finish after %u Text "
				    "Responses",
				    d->responses);
		d->ttt = ttt;
		return DISCOVERY_STEP_CONTINUE;
	}
	d->targets = discovery_parse(d->acc.buf->data, d->acc.buf->len, err);
	text_accum_clear(&d->acc);
	d->done = true;
	return d->targets ? DISCOVERY_STEP_DONE : DISCOVERY_STEP_FAILED;
}

GPtrArray *discovery_targets(const struct discovery *d)
{
	return d->targets;
}
