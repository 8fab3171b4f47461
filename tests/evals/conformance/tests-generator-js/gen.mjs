export async function asyncTests() {
  await new Promise((resolve) => setTimeout(resolve, 10));
  return [
    { description: 'async one', vars: { topic: 'ants' }, assert: [{ type: 'equals', value: 'About ants' }] },
    { description: 'async two', vars: { topic: 'wasps' }, assert: [{ type: 'contains', value: 'bees' }] },
  ];
}
