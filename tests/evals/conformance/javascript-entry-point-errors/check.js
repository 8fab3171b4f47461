// Assertion functions promptfoo calls with (output, context), failing in each way.
module.exports.ok = (output, context) => ({ pass: output.includes(context.vars.topic), score: 0.8, reason: 'has topic' });
module.exports.throws = () => { throw new Error('assertion exploded'); };
module.exports.wrongType = () => 'yes';
module.exports.hang = () => new Promise(() => {});
module.exports.number = (output) => output.length / 100;
