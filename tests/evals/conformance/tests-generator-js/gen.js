// Test generators: a default export, named exports, one taking promptfoo's config argument.
module.exports = function () {
  return [{ vars: { topic: 'bees' }, assert: [{ type: 'contains', value: 'bees' }] }];
};
module.exports.withConfig = (config) =>
  Array.from({ length: config.n }, (_, i) => ({
    vars: { topic: `${config.prefix}${i}` },
    assert: [{ type: 'javascript', value: `output.endsWith('${config.prefix}${i}')`, metric: 'generated' }],
  }));
module.exports.scenarioTests = () => [
  { vars: { topic: 'scenario' }, assert: [{ type: 'icontains', value: 'SCENARIO' }] },
];
