module.exports = function ({ vars }) {
  return 'CommonJS says {{ topic | upper }} and ' + vars.topic;
};
