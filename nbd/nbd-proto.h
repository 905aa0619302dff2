/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD wire format (NetworkBlockDevice/nbd doc/proto.md): magics,
 * option, reply, info, command and flag values, and the fixed-size
 * messages as packed big-endian structs. Only what the server speaks:
 * fixed newstyle handshake, simple and structured replies.
 */
#ifndef ISA_NBD_PROTO_H
#define ISA_NBD_PROTO_H

#include <stdint.h>

/* Handshake magics. */
#define NBD_MAGIC	    0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT	    0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_OPT_REPLY_MAGIC 0x0003e889045565a9ull

/* Handshake flags (server, 16 bits) and client flags (32 bits). */
#define NBD_FLAG_FIXED_NEWSTYLE	  (1u << 0)
#define NBD_FLAG_NO_ZEROES	  (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES	  (1u << 1)

/* Transmission flags (16 bits). */
#define NBD_FLAG_HAS_FLAGS	   (1u << 0)
#define NBD_FLAG_READ_ONLY	   (1u << 1)
#define NBD_FLAG_SEND_FLUSH	   (1u << 2)
#define NBD_FLAG_SEND_FUA	   (1u << 3)
#define NBD_FLAG_ROTATIONAL	   (1u << 4)
#define NBD_FLAG_SEND_TRIM	   (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF	   (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN	   (1u << 8)
#define NBD_FLAG_SEND_RESIZE	   (1u << 9)
#define NBD_FLAG_SEND_CACHE	   (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO	   (1u << 11)

/* Options. */
#define NBD_OPT_EXPORT_NAME	  1
#define NBD_OPT_ABORT		  2
#define NBD_OPT_LIST		  3
#define NBD_OPT_STARTTLS	  5
#define NBD_OPT_INFO		  6
#define NBD_OPT_GO		  7
#define NBD_OPT_STRUCTURED_REPLY  8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT  10

/* Option reply types; errors have bit 31 set. */
#define NBD_REP_ACK		    1u
#define NBD_REP_SERVER		    2u
#define NBD_REP_INFO		    3u
#define NBD_REP_META_CONTEXT	    4u
#define NBD_REP_ERR(v)		    (0x80000000u | (v))
#define NBD_REP_ERR_UNSUP	    NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY	    NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID	    NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM	    NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD	    NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN	    NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN	    NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG	    NBD_REP_ERR(9)

/* NBD_REP_INFO types. */
#define NBD_INFO_EXPORT	     0
#define NBD_INFO_NAME	     1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE  3

/* Transmission magics. */
#define NBD_REQUEST_MAGIC	   0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC	   0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

/* Commands. */
#define NBD_CMD_READ	     0
#define NBD_CMD_WRITE	     1
#define NBD_CMD_DISC	     2
#define NBD_CMD_FLUSH	     3
#define NBD_CMD_TRIM	     4
#define NBD_CMD_CACHE	     5
#define NBD_CMD_WRITE_ZEROES 6
#define NBD_CMD_BLOCK_STATUS 7

/* Command flags. */
#define NBD_CMD_FLAG_FUA       (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBD_CMD_FLAG_DF	       (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* Structured reply flags and chunk types. */
#define NBD_REPLY_FLAG_DONE	    (1u << 0)
#define NBD_REPLY_TYPE_NONE	    0
#define NBD_REPLY_TYPE_OFFSET_DATA  1
#define NBD_REPLY_TYPE_OFFSET_HOLE  2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR	    ((1u << 15) + 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET ((1u << 15) + 2)

/* base:allocation extent flags. */
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

/* Error values of replies (not the host's errno values). */
#define NBD_EPERM     1
#define NBD_EIO	      5
#define NBD_ENOMEM    12
#define NBD_EINVAL    22
#define NBD_ENOSPC    28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP   95
#define NBD_ESHUTDOWN 108

/* Strings (names, messages) must not be longer than this. */
#define NBD_MAX_STRING 4096

/* The fixed-size messages; every field is big-endian on the wire. */

/**
 * struct nbd_greeting - the server's first message of fixed newstyle.
 */
struct nbd_greeting {
	uint64_t nbdmagic;
	uint64_t ihaveopt;
	uint16_t flags;
} __attribute__((packed));

/**
 * struct nbd_option - the header of one option the client sends.
 */
struct nbd_option {
	uint64_t magic;
	uint32_t option;
	uint32_t len;
} __attribute__((packed));

/**
 * struct nbd_option_reply - the header of one option reply.
 */
struct nbd_option_reply {
	uint64_t magic;
	uint32_t option;
	uint32_t type;
	uint32_t len;
} __attribute__((packed));

/**
 * struct nbd_export_name_reply - the answer to NBD_OPT_EXPORT_NAME,
 * followed by 124 zero bytes unless both sides agreed to NO_ZEROES.
 */
struct nbd_export_name_reply {
	uint64_t size;
	uint16_t flags;
} __attribute__((packed));

#define NBD_EXPORT_NAME_PAD 124

/**
 * struct nbd_info_export - NBD_REP_INFO payload of type NBD_INFO_EXPORT.
 */
struct nbd_info_export {
	uint16_t info;
	uint64_t size;
	uint16_t flags;
} __attribute__((packed));

/**
 * struct nbd_info_block_size - NBD_REP_INFO payload of NBD_INFO_BLOCK_SIZE.
 */
struct nbd_info_block_size {
	uint16_t info;
	uint32_t minimum;
	uint32_t preferred;
	uint32_t maximum;
} __attribute__((packed));

/**
 * struct nbd_request - one transmission request, followed by @len bytes
 * of payload for NBD_CMD_WRITE.
 */
struct nbd_request {
	uint32_t magic;
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t len;
} __attribute__((packed));

/**
 * struct nbd_simple_reply - the only reply without structured replies;
 * a successful read is followed by its data.
 */
struct nbd_simple_reply {
	uint32_t magic;
	uint32_t error;
	uint64_t cookie;
} __attribute__((packed));

/**
 * struct nbd_structured_reply - the header of one reply chunk, followed
 * by @len bytes of chunk payload.
 */
struct nbd_structured_reply {
	uint32_t magic;
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint32_t len;
} __attribute__((packed));

/**
 * struct nbd_chunk_error - payload of NBD_REPLY_TYPE_ERROR, followed by
 * @msg_len bytes of message.
 */
struct nbd_chunk_error {
	uint32_t error;
	uint16_t msg_len;
} __attribute__((packed));

/**
 * struct nbd_block_descriptor - one extent of NBD_REPLY_TYPE_BLOCK_STATUS,
 * which starts with a 32-bit metadata context id.
 */
struct nbd_block_descriptor {
	uint32_t len;
	uint32_t flags;
} __attribute__((packed));

#endif
