// Lifetimes of core objects in Kotlin: every object the core hands out (Accounts, Client,
// Notices, HomeworkHandle, Uploads, TaskHandle) holds a Rust reference until closed. These
// helpers make the common scoped uses one call.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import org.lianxiao.core.AccountsInterface
import org.lianxiao.core.Client
import org.lianxiao.core.ClientInterface
import org.lianxiao.core.HomeworkHandle
import org.lianxiao.core.Notices
import org.lianxiao.core.Uploads

/**
 * Runs [block] with the signed-in account [userId]'s client and closes this Kotlin handle to
 * it afterwards. The account stays signed in.
 */
public suspend inline fun <R> AccountsInterface.withClient(userId: String, block: (Client) -> R): R =
    client(userId).use(block)

/** Runs [block] with this client's [Notices] and closes them afterwards. */
public inline fun <R> ClientInterface.withNotices(block: (Notices) -> R): R = notices().use(block)

/** Runs [block] with this client's [HomeworkHandle] and closes it afterwards. */
public inline fun <R> ClientInterface.withHomework(block: (HomeworkHandle) -> R): R = homework().use(block)

/** Runs [block] with this client's [Uploads] and closes them afterwards. */
public inline fun <R> ClientInterface.withUploads(block: (Uploads) -> R): R = uploads().use(block)
