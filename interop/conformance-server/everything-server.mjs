// The upstream for the conformance comparison: an MCP server with the fixtures the official
// suite's `server` scenarios call (tools test_*, resources test://..., prompts test_*), written
// for this folder on the TypeScript SDK v2 (npm @modelcontextprotocol/server). The suite's own
// reference server lives only in its source repository (examples/servers/typescript), not in
// the npm package, and npm @modelcontextprotocol/server-everything serves different fixtures.
//
// usage: node everything-server.mjs <port>      (serves http://127.0.0.1:<port>/mcp)
//
// 2025-era traffic (initialize handshake, Mcp-Session-Id) goes to one sessionful
// WebStandardStreamableHTTPServerTransport per session (with an event store, so SSE streams
// can be resumed with Last-Event-ID); 2026-07-28 traffic (per-request `_meta` envelope) goes to
// the SDK's createMcpHandler. The split is the SDK's own predicate, isLegacyRequest.
// Host and Origin are checked against localhost names (DNS rebinding protection).
import http from 'node:http';
import { once } from 'node:events';
import { createHmac, randomUUID } from 'node:crypto';
import {
    McpServer,
    ResourceTemplate,
    WebStandardStreamableHTTPServerTransport,
    createMcpHandler,
    isLegacyRequest,
    fromJsonSchema,
    completable,
    inputRequired,
    inputResponse,
    ProtocolError,
    hostHeaderValidationResponse,
    originValidationResponse,
    localhostAllowedHostnames,
    localhostAllowedOrigins
} from '@modelcontextprotocol/server';
import { SkillsExtension, memorySkillFiles } from '@modelcontextprotocol/server/ext/skills';
import * as z from 'zod/v4';

const PORT = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const PATH = '/mcp';
const log = (...a) => console.error(new Date().toISOString(), ...a);

// 1x1 red PNG, minimal WAV
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
const sleep = ms => new Promise(r => setTimeout(r, ms));

// SEP-1613 / SEP-2106: a raw JSON Schema 2020-12 input schema that must survive tools/list.
const SCHEMA_2020_12 = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    $defs: {
        address: {
            $anchor: 'addressDef',
            type: 'object',
            properties: { street: { type: 'string' }, city: { type: 'string' } }
        }
    },
    properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' }
    },
    allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
    if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
    then: { required: ['phone'] },
    else: { required: ['email'] },
    additionalProperties: false
};

// Integrity-protected multi-round-trip state (SEP-2322): HMAC over the JSON payload.
const STATE_KEY = randomUUID();
const mintState = payload => {
    const data = JSON.stringify(payload);
    return JSON.stringify({ data, mac: createHmac('sha256', STATE_KEY).update(data).digest('hex') });
};
const readState = raw => {
    try {
        const { data, mac } = JSON.parse(raw);
        if (createHmac('sha256', STATE_KEY).update(data).digest('hex') !== mac) return null;
        return JSON.parse(data);
    } catch {
        return null;
    }
};

const text = t => ({ content: [{ type: 'text', text: t }] });

// SEP-2640 skills extension: one small skill with a file in a subfolder (directory reads).
const skills = await SkillsExtension.load(
    memorySkillFiles({
        'greeting/SKILL.md': '---\nname: greeting\ndescription: Greets the user politely. Use when a conversation starts.\n---\n\n# Greeting\n\nSay hello, then see references/STYLE.md.\n',
        'greeting/references/STYLE.md': '# Style\n\nShort and friendly.\n'
    }),
    { cacheHint: { ttlMs: 60000, cacheScope: 'public' } }
);

// Flipped by the test_trigger_*_change tools: adds or removes one tool / one prompt, and the
// change is announced (2025: notifications/*/list_changed on the session; 2026-07-28: on open
// subscriptions/listen streams).
const dynamic = { tool: false, prompt: false };
const legacyServers = new Set();

function createServer(era) {
    const server = new McpServer(
        { name: 'mcp-auth-interop-everything-server', version: '1.0.0' },
        {
            capabilities: {
                tools: { listChanged: true },
                resources: { subscribe: true, listChanged: true },
                prompts: { listChanged: true },
                logging: {},
                completions: {}
            },
            // requestState comes back from the client: verify its MAC before any handler sees it
            requestState: {
                verify: raw => {
                    const st = readState(raw);
                    if (!st) throw new ProtocolError(-32602, 'Invalid requestState: integrity check failed');
                    return st;
                }
            },
            cacheHints: {
                'tools/list': { ttlMs: 300000, cacheScope: 'public' },
                'prompts/list': { ttlMs: 300000, cacheScope: 'public' },
                'resources/list': { ttlMs: 300000, cacheScope: 'public' },
                'resources/templates/list': { ttlMs: 300000, cacheScope: 'public' },
                'resources/read': { ttlMs: 300000, cacheScope: 'private' }
            }
        }
    );

    skills.attach(server);

    // ---- tools ----
    server.registerTool('test_simple_text', { description: 'Returns simple text content' }, async () =>
        text('This is a simple text response for testing.')
    );
    server.registerTool('test_image_content', { description: 'Returns image content' }, async () => ({
        content: [{ type: 'image', data: PNG, mimeType: 'image/png' }]
    }));
    server.registerTool('test_audio_content', { description: 'Returns audio content' }, async () => ({
        content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }]
    }));
    server.registerTool('test_embedded_resource', { description: 'Returns an embedded resource' }, async () => ({
        content: [
            {
                type: 'resource',
                resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' }
            }
        ]
    }));
    server.registerTool('test_multiple_content_types', { description: 'Returns text, image and resource content' }, async () => ({
        content: [
            { type: 'text', text: 'Multiple content types test:' },
            { type: 'image', data: PNG, mimeType: 'image/png' },
            {
                type: 'resource',
                resource: {
                    uri: 'test://mixed-content-resource',
                    mimeType: 'application/json',
                    text: JSON.stringify({ test: 'data', value: 123 })
                }
            }
        ]
    }));
    server.registerTool(
        'test_tool_with_logging',
        { description: 'Sends log notifications while it runs', inputSchema: z.object({}) },
        async (_args, ctx) => {
            for (const [i, msg] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
                if (i) await sleep(50);
                await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data: msg } });
            }
            return text('Tool with logging executed successfully');
        }
    );
    server.registerTool(
        'test_tool_with_progress',
        { description: 'Sends progress notifications while it runs', inputSchema: z.object({}) },
        async (_args, ctx) => {
            const progressToken = ctx.mcpReq._meta?.progressToken ?? 0;
            for (const progress of [0, 50, 100]) {
                if (progress) await sleep(50);
                await ctx.mcpReq.notify({
                    method: 'notifications/progress',
                    params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` }
                });
            }
            return text(String(progressToken));
        }
    );
    server.registerTool('test_error_handling', { description: 'Always fails' }, async () => {
        throw new Error('This tool intentionally returns an error for testing');
    });
    server.registerTool(
        'test_reconnection',
        { description: 'Closes its SSE stream mid-call; the result arrives after the client reconnects', inputSchema: z.object({}) },
        async (_args, ctx) => {
            ctx.http?.closeSSE?.();
            await sleep(100);
            return text('Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.');
        }
    );
    server.registerTool(
        'test_sampling',
        { description: 'Asks the client for an LLM completion', inputSchema: z.object({ prompt: z.string() }) },
        async ({ prompt }, ctx) => {
            try {
                const r = await ctx.mcpReq.send({
                    method: 'sampling/createMessage',
                    params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 }
                });
                return text(`LLM response: ${r.content?.text ?? 'No response'}`);
            } catch (e) {
                return text(`Sampling not supported or error: ${e.message}`);
            }
        }
    );
    const elicitTool = (name, description, inputSchema, params, prefix) =>
        server.registerTool(name, { description, inputSchema }, async (args, ctx) => {
            try {
                const r = await ctx.mcpReq.send({ method: 'elicitation/create', params: params(args) });
                return text(`${prefix}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
            } catch (e) {
                return text(`Elicitation not supported or error: ${e.message}`);
            }
        });
    elicitTool(
        'test_elicitation',
        'Asks the user for input',
        z.object({ message: z.string() }),
        ({ message }) => ({
            message,
            requestedSchema: {
                type: 'object',
                properties: { response: { type: 'string', description: "User's response" } },
                required: ['response']
            }
        }),
        'User response'
    );
    elicitTool(
        'test_elicitation_sep1034_defaults',
        'Elicitation with a default for every primitive type (SEP-1034)',
        z.object({}),
        () => ({
            message: 'Please review and update the form fields with defaults',
            requestedSchema: {
                type: 'object',
                properties: {
                    name: { type: 'string', description: 'User name', default: 'John Doe' },
                    age: { type: 'integer', description: 'User age', default: 30 },
                    score: { type: 'number', description: 'User score', default: 95.5 },
                    status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
                    verified: { type: 'boolean', description: 'Verification status', default: true }
                },
                required: []
            }
        }),
        'Elicitation completed'
    );
    elicitTool(
        'test_elicitation_sep1330_enums',
        'Elicitation with the enum schema variants (SEP-1330)',
        z.object({}),
        () => ({
            message: 'Please select options from the enum fields',
            requestedSchema: {
                type: 'object',
                properties: {
                    untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
                    titledSingle: {
                        type: 'string',
                        description: 'Select one option with titles',
                        oneOf: [
                            { const: 'value1', title: 'First Option' },
                            { const: 'value2', title: 'Second Option' },
                            { const: 'value3', title: 'Third Option' }
                        ]
                    },
                    legacyEnum: {
                        type: 'string',
                        description: 'Select one option (legacy)',
                        enum: ['opt1', 'opt2', 'opt3'],
                        enumNames: ['Option One', 'Option Two', 'Option Three']
                    },
                    untitledMulti: {
                        type: 'array',
                        description: 'Select multiple options',
                        minItems: 1,
                        maxItems: 3,
                        items: { type: 'string', enum: ['option1', 'option2', 'option3'] }
                    },
                    titledMulti: {
                        type: 'array',
                        description: 'Select multiple options with titles',
                        minItems: 1,
                        maxItems: 3,
                        items: {
                            anyOf: [
                                { const: 'value1', title: 'First Choice' },
                                { const: 'value2', title: 'Second Choice' },
                                { const: 'value3', title: 'Third Choice' }
                            ]
                        }
                    }
                },
                required: []
            }
        }),
        'Elicitation completed'
    );
    server.registerTool(
        'json_schema_2020_12_tool',
        { description: 'Input schema with JSON Schema 2020-12 keywords (SEP-1613)', inputSchema: fromJsonSchema(SCHEMA_2020_12) },
        async args => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)
    );

    server.registerTool(
        'test_custom_headers',
        {
            description: 'Arguments mirrored into Mcp-Param-* headers (SEP-2243)',
            inputSchema: fromJsonSchema({
                type: 'object',
                properties: {
                    region: { type: 'string', description: 'Mirrored in Mcp-Param-Region', 'x-mcp-header': 'Region' },
                    query: { type: 'string', description: 'Not mirrored' }
                },
                required: ['region']
            })
        },
        async args => text(`custom headers ok: ${JSON.stringify(args)}`)
    );

    // ---- 2026-07-28 (SEP-2575, SEP-2322) diagnostic tools ----
    const clientCaps = ctx => ctx.mcpReq.envelope?.['io.modelcontextprotocol/clientCapabilities'] ?? {};
    // Asks the client for sampling; when the client did not declare sampling, the SDK's seam
    // answers -32021 MissingRequiredClientCapabilityError (HTTP 400) instead of sending it.
    server.registerTool('test_missing_capability', { description: 'Needs the sampling capability', inputSchema: z.object({}) }, async (_a, ctx) => {
        const r = inputResponse(ctx.mcpReq.inputResponses, 'probe');
        if (r.kind === 'sampling') return text('sampling capability used');
        return inputRequired({
            inputRequests: {
                probe: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'ping' } }], maxTokens: 10 })
            }
        });
    });
    server.registerTool('test_streaming_elicitation', { description: 'Asks for input with an input_required result', inputSchema: z.object({}) }, async (_a, ctx) => {
        const got = inputResponse(ctx.mcpReq.inputResponses, 'answer');
        if (got.kind === 'elicit') return text(`answer: ${JSON.stringify(got.content ?? {})}`);
        return inputRequired({
            inputRequests: {
                answer: inputRequired.elicit({
                    message: 'Anything to add?',
                    requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] }
                })
            }
        });
    });
    server.registerTool('test_logging_tool', { description: 'Logs (only when the request set a log level)', inputSchema: z.object({}) }, async (_a, ctx) => {
        await ctx.mcpReq.log('info', 'test_logging_tool ran').catch(() => {});
        return text('logging tool done');
    });
    server.registerTool('test_trigger_tool_change', { description: 'Adds or removes test_dynamic_tool', inputSchema: z.object({}) }, async () => {
        dynamic.tool = !dynamic.tool;
        modern.notify.toolsChanged();
        for (const s of legacyServers) s.sendToolListChanged();
        return text(`test_dynamic_tool ${dynamic.tool ? 'added' : 'removed'}`);
    });
    server.registerTool('test_trigger_prompt_change', { description: 'Adds or removes test_dynamic_prompt', inputSchema: z.object({}) }, async () => {
        dynamic.prompt = !dynamic.prompt;
        modern.notify.promptsChanged();
        for (const s of legacyServers) s.sendPromptListChanged();
        return text(`test_dynamic_prompt ${dynamic.prompt ? 'added' : 'removed'}`);
    });
    if (dynamic.tool) server.registerTool('test_dynamic_tool', { description: 'Present after test_trigger_tool_change' }, async () => text('dynamic'));
    if (dynamic.prompt)
        server.registerPrompt('test_dynamic_prompt', { description: 'Present after test_trigger_prompt_change' }, async () => ({
            messages: [{ role: 'user', content: { type: 'text', text: 'dynamic prompt' } }]
        }));

    const ask = (message, field) =>
        inputRequired.elicit({ message, requestedSchema: { type: 'object', properties: { [field]: { type: 'string' } }, required: [field] } });
    const field = (responses, key, name) => {
        const r = inputResponse(responses, key);
        return r.kind === 'elicit' && r.action === 'accept' ? (r.content?.[name] ?? 'unknown') : undefined;
    };
    const samplingText = r => {
        const c = r.result?.content;
        return (Array.isArray(c) ? c.find(x => x.type === 'text')?.text : c?.text) ?? '';
    };
    const askCapital = () =>
        inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }], maxTokens: 100 });

    server.registerTool('test_input_required_result_elicitation', { description: 'SEP-2322: one elicitation', inputSchema: z.object({}) }, async (_a, ctx) => {
        const name = field(ctx.mcpReq.inputResponses, 'user_name', 'name');
        if (name !== undefined) return text(`Hello, ${name}!`);
        return inputRequired({ inputRequests: { user_name: ask('What is your name?', 'name') } });
    });
    server.registerTool('test_input_required_result_sampling', { description: 'SEP-2322: one sampling request', inputSchema: z.object({}) }, async (_a, ctx) => {
        const r = inputResponse(ctx.mcpReq.inputResponses, 'capital_question');
        if (r.kind === 'sampling') return text(`Sampling said: ${samplingText(r)}`);
        return inputRequired({ inputRequests: { capital_question: askCapital() } });
    });
    server.registerTool('test_input_required_result_list_roots', { description: 'SEP-2322: roots/list', inputSchema: z.object({}) }, async (_a, ctx) => {
        const r = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
        if (r.kind === 'roots') return text(`Roots: ${r.roots.map(x => x.uri).join(', ')}`);
        return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    });
    const confirmRequest = () =>
        inputRequired.elicit({
            message: 'Please confirm',
            requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }
        });
    const stateful = (name, description) =>
        server.registerTool(name, { description, inputSchema: z.object({}) }, async (_a, ctx) => {
            const st = ctx.mcpReq.requestState();
            if (st !== undefined) {
                if (st.tool !== name) throw new ProtocolError(-32602, 'requestState belongs to another tool');
                if (inputResponse(ctx.mcpReq.inputResponses, 'confirm').kind === 'elicit') return text(`state-ok: confirmed (${st.nonce})`);
            }
            return inputRequired({ inputRequests: { confirm: confirmRequest() }, requestState: mintState({ tool: name, nonce: randomUUID() }) });
        });
    stateful('test_input_required_result_request_state', 'SEP-2322: requestState round trip');
    stateful('test_input_required_result_tampered_state', 'SEP-2322: integrity-protected requestState');
    server.registerTool('test_input_required_result_multiple_inputs', { description: 'SEP-2322: three input requests', inputSchema: z.object({}) }, async (_a, ctx) => {
        const rs = ctx.mcpReq.inputResponses;
        const name = field(rs, 'user_name', 'name');
        const greeting = inputResponse(rs, 'greeting');
        const roots = inputResponse(rs, 'client_roots');
        if (name !== undefined && greeting.kind === 'sampling' && roots.kind === 'roots')
            return text(`${samplingText(greeting)} ${name}; roots: ${roots.roots.map(x => x.uri).join(', ')}`);
        return inputRequired({
            inputRequests: {
                user_name: ask('What is your name?', 'name'),
                greeting: inputRequired.createMessage({
                    messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
                    maxTokens: 50
                }),
                client_roots: inputRequired.listRoots()
            },
            requestState: mintState({ tool: 'multiple_inputs' })
        });
    });
    server.registerTool('test_input_required_result_multi_round', { description: 'SEP-2322: two rounds', inputSchema: z.object({}) }, async (_a, ctx) => {
        const st = ctx.mcpReq.requestState() ?? { round: 1 };
        const rs = ctx.mcpReq.inputResponses;
        if (st.round === 2) {
            const color = field(rs, 'step2', 'color');
            if (color !== undefined) return text(`${st.name} likes ${color}`);
            return inputRequired({ inputRequests: { step2: ask('Step 2: What is your favorite color?', 'color') }, requestState: mintState(st) });
        }
        const name = field(rs, 'step1', 'name');
        if (name !== undefined)
            return inputRequired({
                inputRequests: { step2: ask('Step 2: What is your favorite color?', 'color') },
                requestState: mintState({ round: 2, name })
            });
        return inputRequired({ inputRequests: { step1: ask('Step 1: What is your name?', 'name') }, requestState: mintState({ round: 1, n: randomUUID() }) });
    });
    server.registerTool('test_input_required_result_capabilities', { description: 'SEP-2322: only declared capabilities', inputSchema: z.object({}) }, async (_a, ctx) => {
        const caps = clientCaps(ctx);
        const rs = ctx.mcpReq.inputResponses;
        if (rs && Object.keys(rs).length) return text('capabilities respected');
        const inputRequests = {};
        if (caps.elicitation) inputRequests.user_name = ask('What is your name?', 'name');
        if (caps.sampling) inputRequests.capital_question = askCapital();
        if (caps.roots) inputRequests.client_roots = inputRequired.listRoots();
        if (!Object.keys(inputRequests).length) return text('no input capability declared');
        return inputRequired({ inputRequests });
    });
    server.registerPrompt('test_input_required_result_prompt', { description: 'SEP-2322: prompts/get with an input request' }, async (ctx) => {
        const context = field(ctx.mcpReq.inputResponses, 'user_context', 'context');
        if (context !== undefined) return { messages: [{ role: 'user', content: { type: 'text', text: `Context: ${context}` } }] };
        return inputRequired({ inputRequests: { user_context: ask('What context should the prompt use?', 'context') } });
    });

    // ---- resources ----
    const res = (name, uri, meta, contents) =>
        server.registerResource(name, uri, meta, async () => ({ contents: [{ uri, ...contents }] }));
    res(
        'static-text',
        'test://static-text',
        { title: 'Static Text Resource', description: 'A static text resource', mimeType: 'text/plain' },
        { mimeType: 'text/plain', text: 'This is the content of the static text resource.' }
    );
    res(
        'static-binary',
        'test://static-binary',
        { title: 'Static Binary Resource', description: 'A static binary resource (PNG)', mimeType: 'image/png' },
        { mimeType: 'image/png', blob: PNG }
    );
    res(
        'watched-resource',
        'test://watched-resource',
        { title: 'Watched Resource', description: 'A resource clients can subscribe to', mimeType: 'text/plain' },
        { mimeType: 'text/plain', text: 'Watched resource content' }
    );
    server.registerResource(
        'template',
        new ResourceTemplate('test://template/{id}/data', { list: undefined }),
        { title: 'Resource Template', description: 'A resource template with one parameter', mimeType: 'application/json' },
        async (uri, { id }) => ({
            contents: [
                {
                    uri: uri.toString(),
                    mimeType: 'application/json',
                    text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` })
                }
            ]
        })
    );

    if (era === 'legacy') {
        const subscriptions = new Set();
        server.server.setRequestHandler('resources/subscribe', async req => (subscriptions.add(req.params.uri), {}));
        server.server.setRequestHandler('resources/unsubscribe', async req => (subscriptions.delete(req.params.uri), {}));
    }

    // ---- prompts ----
    server.registerPrompt('test_simple_prompt', { title: 'Simple Test Prompt', description: 'A prompt without arguments' }, async () => ({
        messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }]
    }));
    server.registerPrompt(
        'test_prompt_with_arguments',
        {
            title: 'Prompt With Arguments',
            description: 'A prompt with two required arguments',
            argsSchema: z.object({
                arg1: completable(z.string().describe('First test argument'), v => ['paris', 'park', 'party'].filter(x => x.startsWith(v ?? ''))),
                arg2: z.string().describe('Second test argument')
            })
        },
        async ({ arg1, arg2 }) => ({
            messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }]
        })
    );
    server.registerPrompt(
        'test_prompt_with_embedded_resource',
        {
            title: 'Prompt With Embedded Resource',
            description: 'A prompt with an embedded resource',
            argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') })
        },
        async ({ resourceUri }) => ({
            messages: [
                {
                    role: 'user',
                    content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } }
                },
                { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } }
            ]
        })
    );
    server.registerPrompt('test_prompt_with_image', { title: 'Prompt With Image', description: 'A prompt with image content' }, async () => ({
        messages: [
            { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
            { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } }
        ]
    }));

    return server;
}

// ---- 2025-era sessions ----
function createEventStore() {
    const events = new Map(); // eventId -> { streamId, message }
    let seq = 0;
    return {
        async storeEvent(streamId, message) {
            const id = `${streamId}::${String(++seq).padStart(12, '0')}`;
            events.set(id, { streamId, message });
            return id;
        },
        async getStreamIdForEventId(eventId) {
            return events.get(eventId)?.streamId;
        },
        async replayEventsAfter(lastEventId, { send }) {
            const streamId = events.get(lastEventId)?.streamId ?? lastEventId.split('::')[0];
            for (const [id, ev] of [...events].sort(([a], [b]) => a.localeCompare(b))) {
                if (ev.streamId === streamId && id > lastEventId && ev.message && Object.keys(ev.message).length) await send(id, ev.message);
            }
            return streamId;
        }
    };
}

const sessions = new Map();
const jsonError = (status, code, message) =>
    new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
        status,
        headers: { 'content-type': 'application/json' }
    });

async function legacyHandler(request) {
    const sid = request.headers.get('mcp-session-id');
    if (sid) {
        const t = sessions.get(sid);
        return t ? t.handleRequest(request) : jsonError(404, -32001, 'Session not found');
    }
    if (request.method === 'POST') {
        let body;
        try {
            body = await request.clone().json();
        } catch {
            body = undefined;
        }
        if (body && !Array.isArray(body) && body.method === 'initialize') {
            const t = new WebStandardStreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                eventStore: createEventStore(),
                retryInterval: 1000,
                onsessioninitialized: id => sessions.set(id, t),
                onsessionclosed: id => sessions.delete(id)
            });
            t.onclose = () => t.sessionId && sessions.delete(t.sessionId);
            const server = createServer('legacy');
            legacyServers.add(server);
            server.server.onclose = () => legacyServers.delete(server);
            await server.connect(t);
            return t.handleRequest(request);
        }
    }
    return jsonError(400, -32000, 'Bad Request: No valid session ID provided');
}

const modern = createMcpHandler(({ era }) => createServer(era), { legacy: 'reject', onerror: e => log('modern:', e.message) });

async function handle(request) {
    const rejected =
        hostHeaderValidationResponse(request, localhostAllowedHostnames()) ??
        originValidationResponse(request, localhostAllowedOrigins());
    if (rejected) return rejected;
    return (await isLegacyRequest(request)) ? legacyHandler(request) : modern.fetch(request);
}

// ---- node:http <-> fetch Request/Response, streaming the response body ----
const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/health') return res.end('ok');
    if (url.pathname !== PATH) {
        res.writeHead(404).end();
        return;
    }
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    try {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const headers = new Headers();
        for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
        let request;
        try {
            request = new Request(new URL(req.url, `http://${req.headers.host ?? '127.0.0.1'}`), {
                method: req.method,
                headers,
                body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
                signal: ac.signal,
                duplex: 'half'
            });
        } catch {
            // unparseable Host: build the URL from our own address; Host stays as sent for validation
            request = new Request(`http://127.0.0.1:${PORT}${req.url}`, {
                method: req.method,
                headers,
                body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
                signal: ac.signal,
                duplex: 'half'
            });
        }
        const response = await handle(request);
        const out = {};
        response.headers.forEach((v, k) => (out[k] = v));
        res.writeHead(response.status, out);
        if (!response.body) return res.end();
        res.flushHeaders();
        const reader = response.body.getReader();
        res.on('close', () => reader.cancel().catch(() => {}));
        for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (!res.write(value)) await once(res, 'drain');
        }
        res.end();
    } catch (e) {
        log('request failed:', e);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end();
    }
});
httpServer.listen(PORT, '127.0.0.1', () => console.log(`everything-server listening on http://127.0.0.1:${PORT}${PATH}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
