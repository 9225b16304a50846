// agentgpu's own chat templates, for GGUF files that carry no tokenizer.chat_template. They are
// Jinja text, rendered by the same path as a GGUF's template, so they can be read, compared with
// the models' real templates (see template.test.ts) and replaced without touching code.
//
// Written as String.raw so `\n` stays a Jinja escape inside Jinja string literals, exactly as it
// appears in the tokenizer_config.json templates these follow.

/** The built-in template families. */
export type BuiltinTemplateName = 'chatml' | 'llama3' | 'llama2' | 'phi3' | 'gemma';

export const builtinTemplates: Readonly<Record<BuiltinTemplateName, string>> = {
  // ChatML, as Qwen2/Qwen3 and SmolLM2 render a conversation that starts with a system message.
  // Qwen2.5's real template adds its default system prompt when there is none, and turns `tool`
  // messages into <tool_response> blocks in a user turn; this plain form does neither.
  chatml: String.raw`{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}`,

  // The Llama 3 header format (Meta-Llama-3-Instruct's template). Llama 3.1/3.2 templates add a
  // system block with "Cutting Knowledge Date" and "Today Date" lines to every conversation;
  // this one does not. `tool` messages use the `ipython` header, as Llama 3.1+ expects.
  llama3: String.raw`{{- bos_token }}
{%- for message in messages %}
    {%- set role = 'ipython' if message.role == 'tool' else message.role %}
    {{- '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}`,

  // The Llama 2 chat / Mistral [INST] format: BOS before each user turn, the system prompt folded
  // into the first user turn in <<SYS>> tags, EOS after each answer. The open [/INST] is already
  // the generation prompt, so add_generation_prompt changes nothing.
  llama2: String.raw`{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = '' %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- for message in loop_messages %}
    {%- if (message.role == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('the [INST] chat format needs user and assistant messages to alternate, starting with user (after an optional system message)') }}
    {%- endif %}
    {%- if message.role == 'user' %}
        {%- set content = message.content | trim %}
        {%- if loop.first and system_message %}
            {%- set content = '<<SYS>>\n' + system_message | trim + '\n<</SYS>>\n\n' + content %}
        {%- endif %}
        {{- bos_token + '[INST] ' + content + ' [/INST]' }}
    {%- else %}
        {{- ' ' + message.content | trim + ' ' + eos_token }}
    {%- endif %}
{%- endfor %}`,

  // Phi-3 / 3.5 / 4-mini, as llama.cpp's LLM_CHAT_TEMPLATE_PHI_3 renders it: every turn
  // `<|role|>\n` + content + `<|end|>\n`, the generation prompt `<|assistant|>\n`.
  phi3: String.raw`{%- for message in messages %}
    {{- '<|' + message.role + '|>\n' + message.content + '<|end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|assistant|>\n' }}
{%- endif %}`,

  // Gemma, as llama.cpp's LLM_CHAT_TEMPLATE_GEMMA renders it: no system role (the system
  // prompt opens the first user turn, then a blank line), the assistant is `model`, every turn
  // `<start_of_turn>role\n` + trimmed content + `<end_of_turn>\n`.
  gemma: String.raw`{%- set ns = namespace(system='') %}
{%- for message in messages %}
    {%- if message.role == 'system' %}
        {%- set ns.system = ns.system + message.content | trim %}
    {%- else %}
        {%- set role = 'model' if message.role == 'assistant' else message.role %}
        {{- '<start_of_turn>' + role + '\n' }}
        {%- if ns.system and role != 'model' %}
            {{- ns.system + '\n\n' }}
            {%- set ns.system = '' %}
        {%- endif %}
        {{- message.content | trim + '<end_of_turn>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<start_of_turn>model\n' }}
{%- endif %}`,
};

/**
 * The built-in template for a model with no chat template of its own: by its special tokens
 * first (a Llama 3 or ChatML vocabulary says which format it was tuned on, whatever the
 * architecture), then by architecture. Undefined when nothing fits.
 */
export function builtinTemplateFor(
  architecture: string | undefined,
  hasToken: (text: string) => boolean,
): BuiltinTemplateName | undefined {
  if (architecture === 'qwen2' || architecture === 'qwen3') return 'chatml';
  if (architecture === 'phi3') return 'phi3';
  if (architecture === 'gemma2' || architecture === 'gemma3') return 'gemma';
  if (hasToken('<|start_header_id|>') && hasToken('<|eot_id|>')) return 'llama3';
  if (hasToken('<|im_start|>') && hasToken('<|im_end|>')) return 'chatml';
  if (architecture === 'llama') return 'llama2';
  return undefined;
}
