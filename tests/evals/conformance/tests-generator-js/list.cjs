module.exports = [{ vars: { topic: 'a plain list' } }];
