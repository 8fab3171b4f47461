module.exports = (output, context) => ({
  pass: output.length > 3,
  score: output.length / 10,
  reason: `length ${output.length} for ${context.vars.text}`,
});
module.exports.exact = (output) => output === 'exact';
