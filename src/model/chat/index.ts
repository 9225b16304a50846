// Chat templates: a conversation in, the prompt text a model was tuned on out.
export {
  ChatTemplate,
  type ChatMessage,
  type ChatRenderOptions,
  type ChatTemplateInit,
  type ChatTemplateOptions,
} from './template.js';
export { builtinTemplateFor, builtinTemplates, type BuiltinTemplateName } from './builtin.js';
export { chatVocabularyFromGguf, type ChatVocabulary } from './vocabulary.js';
export { ChatTemplateError, type ChatTemplateOrigin } from '../../errors.js';
