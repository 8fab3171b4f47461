// Prompt functions: what promptfoo passes them (vars, provider, config) and what they return.
module.exports.text = ({ vars, provider, config }) =>
  `Tell me about ${vars.topic} via ${provider.id}/${provider.label ?? 'no label'} ${config.tone ?? 'plain'}`;
module.exports.chat = async ({ vars }) => [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: `Tell me about ${vars.topic}` },
];
module.exports.withConfig = ({ vars }) => ({ prompt: `Config for ${vars.topic}`, config: { temperature: 0.1 } });
module.exports.object = ({ vars }) => ({ question: vars.topic });
