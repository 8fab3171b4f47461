module.exports.upper = (output) => output.toUpperCase();
module.exports.throws = () => { throw new Error('transform exploded'); };
module.exports.hang = () => new Promise(() => {});
module.exports.object = (output) => ({ text: output });
