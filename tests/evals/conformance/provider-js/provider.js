// A custom provider as promptfoo documents it: a class with id() and callApi().
class ShoutProvider {
  constructor(options) {
    this.providerId = options.id;
    this.config = options.config || {};
  }
  id() {
    return this.providerId;
  }
  async callApi(prompt, context) {
    const topic = context.vars.topic;
    if (topic === 'throw') throw new Error('provider exploded');
    if (topic === 'error') return { error: 'upstream said no' };
    if (topic === 'hang') return new Promise(() => {});
    if (topic === 'wrong') return 'just a string';
    return {
      output: `${this.config.prefix ?? ''}${prompt.toUpperCase()}`,
      tokenUsage: { total: 5, prompt: 2, completion: 3 },
      cost: 0.001,
    };
  }
}
module.exports = ShoutProvider;
